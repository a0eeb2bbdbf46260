"""One keep-alive HTTP/1.1 client connection: an asyncio protocol parsing with httptools.

A delivery needs little of HTTP: write one request, read the status, ``Retry-After`` and at
most ``limit`` bytes of body. Doing only that on a bare protocol costs a fraction of a
general client's CPU per request. A body past the limit is not read: the answer is settled
with what was kept and the connection closed, so an endless body costs its connection,
not memory. Every failure settles the waiting request as a ``SendError`` with its kind.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import cast

import httptools

from hookline.models import ErrorKind

# The parser gathers a header's name and value across reads: an answer whose head never
# ends must not grow memory until the request's timeout. Real heads are a few hundred bytes.
MAX_HEAD = 64 * 1024


class SendError(Exception):
    """A send that produced no HTTP answer, with the error kind the attempt records.

    ``replayable`` marks a reused connection that the server closed before answering
    a single byte: the request may go once more on a fresh connection."""

    def __init__(self, kind: ErrorKind, message: str, replayable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.replayable = replayable


MAX_KEPT_HEADERS = 50  # response headers kept for the attempt's record, at most
MAX_KEPT_HEADER_BYTES = 8 * 1024


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    retry_after: str | None
    # the first headers received (lower-case names, repeats joined with ", "), bounded
    headers: dict[str, str] | None = None


class HttpConnection(asyncio.Protocol):
    """Carries one request at a time; ``request`` returns a future settled by the parser."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False  # the peer closed (or reset) the connection, or we did
        self.reused = False  # at least one answer came back on this connection
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._retry_after: str | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._chunks: list[bytes] = []
        self._size = 0  # body bytes seen, including the ones past the limit
        self._received = 0  # response bytes seen for the current request
        self._headers_done = False
        self._framed = False  # Content-Length or Transfer-Encoding: the body has an end
        self._complete = False
        self._keep_alive = False

    # --- driving a request -------------------------------------------------------------

    def request(self, data: bytes, deadline: float) -> asyncio.Future[Response]:
        """Send ``data``; the answer must be complete by ``deadline`` (the loop's clock),
        else the future fails as a timeout and the connection is closed. One timer on the
        loop costs a third of an ``asyncio.timeout`` block per request."""
        transport = self._transport
        assert transport is not None and self._waiter is None, "connection is busy"
        self._reset()
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._timer = loop.call_at(deadline, self._expire)
        transport.write(data)
        return waiter

    def reusable(self) -> bool:
        return not self.closed and self._waiter is None and self._keep_alive

    def close(self) -> None:
        """Drop the connection without flushing anything: nothing more is wanted from it."""
        self.closed = True
        self._stop_timer()
        if self._transport is not None:
            self._transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: an idle connection must stay silent
            self.close()
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self._complete:
                self._fail(ErrorKind.INVALID_RESPONSE, f"invalid response: {exc}")
                self.close()
                return
            self._keep_alive = False  # bytes after a complete answer: never reuse this
        if self._complete:
            self._settle()
        elif not self._headers_done and self._received > MAX_HEAD:
            self._fail(ErrorKind.INVALID_RESPONSE, "invalid response: head too large")
            self.close()
        elif self._headers_done and self._size >= self._limit:
            self._keep_alive = False  # the rest of the body is not wanted: close instead
            self._settle()

    def eof_received(self) -> bool:
        self.closed = True
        if self._waiter is not None:
            if self._headers_done and not self._framed:
                self._settle()  # a body delimited by the end of the connection
            elif self._received == 0:
                self._fail(
                    ErrorKind.INVALID_RESPONSE,
                    "invalid response: server disconnected",
                    replayable=self.reused,
                )
            else:
                self._fail(ErrorKind.INVALID_RESPONSE, "invalid response: response ended early")
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            return
        if exc is None:
            self.eof_received()
        elif isinstance(exc, ssl.SSLError):
            self._fail(ErrorKind.TLS, str(exc))
        else:
            replayable = self.reused and self._received == 0 and isinstance(exc, ConnectionError)
            self._fail(ErrorKind.CONNECTION_ERROR, str(exc) or type(exc).__name__, replayable)

    # --- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request: use the first, drop the line
            self._keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        self._header_bytes += len(name) + len(value)
        if len(self._headers) < MAX_KEPT_HEADERS and self._header_bytes <= MAX_KEPT_HEADER_BYTES:
            self._headers.append((name, value))
        lower = name.lower()
        if lower == b"retry-after":
            if self._retry_after is None:
                self._retry_after = value.decode("latin-1")
        elif lower == b"content-length" or lower == b"transfer-encoding":
            self._framed = True

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        room = self._limit - self._size
        if room > 0:
            self._chunks.append(body if len(body) <= room else body[:room])
        self._size += len(body)

    def on_message_complete(self) -> None:
        if self._complete:
            return
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._status, self._headers_done, self._framed = 0, False, False
            self._retry_after = None
            self._headers, self._header_bytes = [], 0
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()

    # --- settling ------------------------------------------------------------------------

    def _expire(self) -> None:
        self._timer = None
        self._fail(ErrorKind.TIMEOUT, "timed out")
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _settle(self) -> None:
        self._stop_timer()
        waiter, self._waiter = self._waiter, None
        body = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self.reused = True
        self.idle_since = time.monotonic()
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, body, self._retry_after, _kept(self._headers)))
        if not self._keep_alive:
            self.close()

    def _fail(self, kind: ErrorKind, message: str, replayable: bool = False) -> None:
        self._stop_timer()
        waiter, self._waiter = self._waiter, None
        self._keep_alive = False
        if waiter is not None and not waiter.done():
            waiter.set_exception(SendError(kind, message, replayable))


def _kept(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept
