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
  the end of the next request's headers, which no trickle of bytes moves: 408 and close if
  part of a request came, else a plain close;
- a body deadline (``body_timeout``) from the end of a request's headers to the end of its
  body, Content-Length or chunked, which no trickle of bytes moves either: 408 and close if
  no response has started, else a plain close. It is cleared as soon as the body is complete,
  so a slow handler is never cut off by it, and it does not run out while the server itself
  holds the body back (reading paused for an app that has not consumed what came, or a
  ``100 Continue`` not yet sent);
- an idle keep-alive deadline (``keepalive_timeout``) from the end of a response to the next
  byte, replacing uvicorn's own keep-alive timer;
- a server-wide connection cap (``max_connections``) checked on accept: past it, a 503 with
  ``Retry-After`` is written at once, before anything is read, and the connection closed.

Deadlines are timestamps checked by one sweep timer per server rather than a timer per
request (a uvloop timer costs a handle allocation each time), so a timeout fires between
its deadline and one sweep interval later (the body deadline, timed from the first sweep
after the headers, up to two), and a request costs less than in stock uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

log = logging.getLogger("hookline.api")

RETRY_AFTER_S = 1
# Sweep often enough that a timeout fires at most a quarter late, but at most once a second.
MAX_SWEEP_INTERVAL_S = 1.0
# A body deadline the next sweep starts: no clock read per request, and it fires up to one
# more sweep interval late, never early.
_BODY_ARMED = -1.0


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    # 1 MiB (the largest publish) still fits at about 35 KB/s, a poor mobile uplink.
    body_timeout: float = 30.0
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


class _Sweeper:
    """One timer per server: each tick closes the connections whose deadline has passed,
    and it stops ticking while no connection is open."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], limits: HttpLimits):
        self.loop = loop
        self.connections = connections
        shortest = min(limits.header_timeout, limits.keepalive_timeout, limits.body_timeout)
        self.interval = min(shortest / 4, MAX_SWEEP_INTERVAL_S)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self._handle is None:
            self._handle = self.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._handle = None
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, LimitedHttpProtocol):
                connection.check_deadlines(now)
        if self.connections:
            self.start()


class LimitedHttpProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()
    _sweeper: ClassVar[_Sweeper | None] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._too_many_headers = False
        # Loop times; 0.0 when not running.
        self._header_deadline = 0.0
        self._idle_deadline = 0.0
        self._body_deadline = 0.0

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
        self._header_deadline = self.loop.time() + self.limits.header_timeout
        cls = type(self)
        if cls._sweeper is None or cls._sweeper.loop is not self.loop:
            cls._sweeper = _Sweeper(self.loop, self.connections, self.limits)
        cls._sweeper.start()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        self._idle_deadline = 0.0
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
        self._header_deadline = 0.0
        self._body_deadline = _BODY_ARMED
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._body_deadline = 0.0
        super().on_message_complete()
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_count = 0

    def on_response_complete(self) -> None:
        # uvicorn's own, with deadlines for the sweeper instead of a keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            now = self.loop.time()
            self._idle_deadline = now + self.limits.keepalive_timeout
            self._header_deadline = now + self.limits.header_timeout

    def shutdown(self) -> None:
        """uvicorn lets a response under way finish before it stops; a stream of unknown
        length (the dashboard's live tail) never would, and held the shutdown until its
        grace period ran out. Its app is told the client left, so it stops at once, and
        the connection is closed (an EventSource reconnects once a server answers)."""
        cycle: RequestResponseCycle | None = self.cycle
        if (
            cycle is not None
            and cycle.response_started
            and not cycle.response_complete
            and cycle.chunked_encoding
        ):
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.close()
            return
        super().shutdown()

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

    def check_deadlines(self, now: float) -> None:
        """Called by the sweeper: close an idle connection, or one whose headers or body are
        late."""
        if self.transport.is_closing():
            return
        if self._idle_deadline and now >= self._idle_deadline:
            self.transport.close()
        elif self._body_deadline == _BODY_ARMED:
            self._body_deadline = now + self.limits.body_timeout
        elif self._body_deadline and now >= self._body_deadline:
            self._body_late(now)
        elif self._header_deadline and now >= self._header_deadline:
            if self._awaiting_headers and self._header_bytes:
                self._answer_and_close(
                    408, "request_timeout", "request headers not received in time"
                )
            else:
                self.transport.close()

    def _body_late(self, now: float) -> None:
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is None:  # no request cycle was started (an upgrade): nothing to answer
            self.transport.close()
            return
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            # The server is holding the body back, not the client: start the client's time
            # again from here rather than cut off a request the app has not read yet.
            self._body_deadline = now + self.limits.body_timeout
            return
        if cycle.response_started:
            self.transport.close()
            return
        # What connection_lost would do, before the app can write a response after ours.
        cycle.disconnected = True
        cycle.message_event.set()
        self._answer_and_close(408, "request_timeout", "request body not received in time")

    def _answer_and_close(self, status: int, code: str, detail: str, extra: bytes = b"") -> None:
        self._header_deadline = self._idle_deadline = self._body_deadline = 0.0
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
