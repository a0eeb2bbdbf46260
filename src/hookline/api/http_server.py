"""HTTP/1.1 for the API: uvicorn's httptools protocol, with limits on hostile clients.

uvicorn (0.54, httptools) buffers request headers without bound, arms no timer on a
connection until its first response, and answers its ``limit_concurrency`` 503 only once a
request has been parsed, so silent, trickling or header-flooding clients hold memory and
connections for ever. This subclass adds, per connection:

- a cap on the bytes of the request line and headers (``max_header_bytes``) and on the number
  of headers (``max_headers``): past either, 431 and close. At most the cap is ever fed to the
  parser while headers are awaited (plus at most one read when a pipelined request follows
  a complete one in the same read);
- a header deadline (``header_timeout``) from connect and from the end of every response to
  the end of the next request's headers, which no trickle of bytes resets: 408 and close if
  part of a request came, else a plain close;
- uvicorn's idle keep-alive timeout, set from ``keepalive_timeout`` (fractions of a second
  allowed);
- a server-wide connection cap (``max_connections``) checked on accept: past it, a 503 with
  ``Retry-After`` is written at once, before anything is read, and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger("hookline.api")

RETRY_AFTER_S = 1


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1000


def protocol_class(limits: HttpLimits) -> type[LimitedHttpProtocol]:
    """A protocol class bound to ``limits``, for ``uvicorn.Config(http=...)``: uvicorn builds
    one instance per connection itself and passes no extra arguments."""

    class BoundHttpProtocol(LimitedHttpProtocol):
        pass

    BoundHttpProtocol.limits = limits
    return BoundHttpProtocol


class _TooManyHeaders(Exception):
    """Raised from the parser callback to stop parsing; the parser wraps it."""


class LimitedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn annotates it int but only hands it to call_later, which takes float.
        self.timeout_keep_alive = self.limits.keepalive_timeout  # type: ignore[assignment]
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._too_many_headers = False
        self._header_timer: asyncio.TimerHandle | None = None

    # Connection lifecycle

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        if len(self.connections) >= self.limits.max_connections:
            # Not registered: uvicorn's shutdown and our count see served connections only.
            self.transport = transport
            log.debug("connection refused: %d open", len(self.connections))
            self._answer_and_close(
                503,
                "server_busy",
                "too many open connections, retry later",
                b"retry-after: %d\r\n" % RETRY_AFTER_S,
            )
            return
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._awaiting_headers:
            room = self.limits.max_header_bytes - self._header_bytes
            if len(data) > room:
                self._feed_past_budget(data, room)
                return
            self._header_bytes += len(data)
        super().data_received(data)

    def _feed_past_budget(self, data: bytes, room: int) -> None:
        """Feed no more than the header budget; the rest only if the headers ended in it."""
        view = memoryview(data)
        self._header_bytes += room
        super().data_received(view[:room])  # type: ignore[arg-type]
        if self.transport.is_closing():
            return
        if self._awaiting_headers:
            self._headers_too_large(f"request headers exceed {self.limits.max_header_bytes} bytes")
            return
        super().data_received(view[room:])  # type: ignore[arg-type]

    # Parser callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._too_many_headers = True
            raise _TooManyHeaders
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_count = 0

    def on_response_complete(self) -> None:
        idle = not self.pipeline
        super().on_response_complete()
        if idle and not self.transport.is_closing():
            self._arm_header_timer()

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error with a 400, including the one on_header raises.
        if self._too_many_headers:
            self._headers_too_large(f"more than {self.limits.max_headers} request headers")
        else:
            super().send_400_response(msg)

    # Limits

    def _headers_too_large(self, detail: str) -> None:
        log.debug("request headers too large: %s", detail)
        self._answer_and_close(431, "headers_too_large", detail)

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self._awaiting_headers and self._header_bytes:
            self._answer_and_close(408, "request_timeout", "request headers not received in time")
        else:
            self.transport.close()

    def _answer_and_close(self, status: int, code: str, detail: str, extra: bytes = b"") -> None:
        self._cancel_header_timer()
        body = json.dumps({"code": code, "detail": detail}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            extra,
            b"\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self.transport.close()
