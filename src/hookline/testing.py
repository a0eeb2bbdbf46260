"""Test helpers shipped with hookline: a real HTTP receiver whose answers a test scripts.

End-to-end tests need a subscriber on a real socket that records exactly what arrived (raw
bytes, headers, timing) and answers as the test dictates: fail twice then succeed, answer
slowly, send ``Retry-After``. :class:`Receiver` runs inside the test's event loop;
:class:`ThreadedReceiver` runs one on its own loop in a thread, for synchronous tests.

    async with Receiver() as rx:
        rx.script("/hook", [500, 500, 200])
        ...  # point an endpoint at rx.url("/hook") and publish
        requests = await rx.wait_for(3, path="/hook")

It also knows which requests it has not answered yet (:meth:`Receiver.unanswered`, the peak
of them per path in :meth:`Receiver.max_concurrent`), and can hold every request to a path
unanswered until the test lets go (:meth:`Receiver.hold`, :meth:`Receiver.release`).

:class:`ChaosReceiver` misbehaves below HTTP, where a well-behaved server framework cannot:
it hangs, resets the connection, dribbles or floods the body, or answers with garbage.

    async with ChaosReceiver() as rx:
        rx.hang("/hang")
        rx.huge("/huge")
        ...
"""

from __future__ import annotations

import asyncio
import http
import json
import math
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from hookline.signing import Webhook

__all__ = [
    "ChaosExchange",
    "ChaosReceiver",
    "MiB",
    "ReceivedRequest",
    "Receiver",
    "Script",
    "ThreadedReceiver",
]

_HOST = "127.0.0.1"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as it arrived, recorded before any scripted delay.

    The body is kept as raw bytes because signatures cover the exact bytes that were sent.
    """

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    received_monotonic: float
    received_wall: float

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)

    def verify(self, secret: str) -> None:
        """Raise :class:`hookline.errors.SignatureError` unless signed with ``secret``."""
        Webhook(secret).verify(self.body, self.headers)


@dataclass(slots=True)
class Script:
    """How one path answers: each of ``statuses`` once, in order, then ``default`` forever."""

    statuses: deque[int] = field(default_factory=deque)
    default: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def next_status(self) -> int:
        return self.statuses.popleft() if self.statuses else self.default


class _Recording:
    """Waiting on what a test server has recorded; subclasses keep ``_changed`` set
    whenever a request arrives and answer ``requests()``."""

    _changed: asyncio.Event
    _port: int | None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the receiver is not running")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every request."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    if predicate():
                        return
                    await self._changed.wait()
        except TimeoutError:
            received = len(self.requests())
            raise TimeoutError(
                f"condition not met after {timeout}s ({received} requests received)"
            ) from None

    async def wait_for(
        self, count: int, path: str | None = None, timeout: float = 30.0
    ) -> list[ReceivedRequest]:
        """Wait until at least ``count`` requests (to ``path``, if given) arrived."""
        try:
            await self.wait_until(lambda: len(self.requests(path)) >= count, timeout)
        except TimeoutError:
            got = len(self.requests(path))
            where = f" on {path}" if path else ""
            raise TimeoutError(
                f"expected {count} requests{where}, got {got} in {timeout}s"
            ) from None
        return self.requests(path)


class Receiver(_Recording):
    """An HTTP server on 127.0.0.1 (ephemeral port) that records requests and follows scripts.

    Paths without a script answer 200 at once. Any method and any path is accepted, so a
    misrouted delivery shows up in :meth:`requests` instead of vanishing into a 404.
    """

    def __init__(self) -> None:
        # A lock, not just the event loop, because ThreadedReceiver reads from another thread.
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._scripts: dict[str, Script] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._open: dict[int, ReceivedRequest] = {}  # arrived, not answered yet
        self._peak: Counter[str] = Counter()
        self._gates: dict[str, asyncio.Event] = {}

    def script(
        self,
        path: str,
        statuses: Iterable[int] = (),
        *,
        default: int = 200,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Set how ``path`` answers from now on, replacing any earlier script for it."""
        data = body.encode() if isinstance(body, str) else body
        script = Script(deque(statuses), default, data, dict(headers or {}), delay)
        with self._lock:
            self._scripts[path] = script

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        """A snapshot of what arrived so far, in arrival order."""
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def unanswered(self, path: str | None = None) -> list[ReceivedRequest]:
        """Requests that arrived and have no response written yet, in arrival order."""
        with self._lock:
            return [r for r in self._open.values() if path is None or r.path == path]

    def max_concurrent(self, path: str) -> int:
        """The most requests to ``path`` that were ever unanswered at the same time."""
        with self._lock:
            return self._peak[path]

    def hold(self, path: str) -> None:
        """From now on, requests to ``path`` wait unanswered until :meth:`release`."""
        self._gates.setdefault(path, asyncio.Event()).clear()

    def release(self, path: str) -> None:
        """Let held requests to ``path`` (and later ones) go on to their scripted answer."""
        if (gate := self._gates.pop(path, None)) is not None:
            gate.set()

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown timeout: a request parked in a scripted delay must not hold up teardown.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, _HOST, 0).start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        record = ReceivedRequest(
            method=request.method,
            path=request.path,
            headers=request.headers,
            body=body,
            received_monotonic=time.monotonic(),
            received_wall=time.time(),
        )
        key = id(record)
        with self._lock:
            self._requests.append(record)
            self._open[key] = record
            active = sum(1 for r in self._open.values() if r.path == record.path)
            self._peak[record.path] = max(self._peak[record.path], active)
            script = self._scripts.get(request.path) or Script()
            status = script.next_status()
        self._changed.set()
        try:
            if (gate := self._gates.get(request.path)) is not None:
                await gate.wait()
            if script.delay > 0:
                await asyncio.sleep(script.delay)
            response = web.Response(status=status, body=script.body, headers=dict(script.headers))
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            with self._lock:
                del self._open[key]
            self._changed.set()


class ThreadedReceiver:
    """A :class:`Receiver` on its own event loop in a daemon thread, for synchronous tests.

    Same API as :class:`Receiver`, but a plain context manager with blocking waits.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="hookline-receiver", daemon=True
        )
        # Safe to build outside the loop: asyncio.Event binds to a loop on first use (3.10+).
        self._receiver = Receiver()

    def __enter__(self) -> Self:
        self._thread.start()
        self._run(self._receiver.start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._run(self._receiver.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    @property
    def port(self) -> int:
        return self._receiver.port

    @property
    def base_url(self) -> str:
        return self._receiver.base_url

    def url(self, path: str = "/") -> str:
        return self._receiver.url(path)

    def script(
        self,
        path: str,
        statuses: Iterable[int] = (),
        *,
        default: int = 200,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self._receiver.script(
            path, statuses, default=default, body=body, headers=headers, delay=delay
        )

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        return self._receiver.requests(path)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        self._run(self._receiver.wait_until(predicate, timeout))

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 30.0
    ) -> list[ReceivedRequest]:
        return self._run(self._receiver.wait_for(count, path, timeout))

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class _Hang:
    pass


@dataclass(frozen=True, slots=True)
class _Reset:
    pass


@dataclass(frozen=True, slots=True)
class _Dribble:
    chunks: int
    chunk: bytes
    interval: float


@dataclass(frozen=True, slots=True)
class _Huge:
    size: int
    chunk_size: int


@dataclass(frozen=True, slots=True)
class _Malformed:
    data: bytes


_Behaviour = _Answer | _Hang | _Reset | _Dribble | _Huge | _Malformed
_KIND: dict[type[object], str] = {
    _Answer: "status",
    _Hang: "hang",
    _Reset: "reset",
    _Dribble: "dribble",
    _Huge: "huge",
    _Malformed: "malformed",
}
_OK = _Answer(200)
_GARBAGE = b"THIS IS NOT HTTP \x00\xff\xfe\r\n\x01\x02 garbage\r\n\r\n"


class _BadRequest(Exception):
    """The client sent something the chaos server cannot parse as an HTTP/1.1 request."""


@dataclass(slots=True)
class ChaosExchange:
    """One request and what the :class:`ChaosReceiver` did with it, updated while it is served.

    ``bytes_written`` counts the response bytes (head and body) handed to the socket so far;
    ``peer_closed`` is set when the client closed or reset the connection before the answer
    was complete; ``finished`` when the handler is done with this request (for whatever
    reason, :meth:`ChaosReceiver.stop` included).
    """

    request: ReceivedRequest
    behaviour: str
    bytes_written: int = 0
    peer_closed: bool = False
    finished: bool = False


class ChaosReceiver(_Recording):
    """A raw TCP server on 127.0.0.1 (ephemeral port) that misbehaves per path, as scripted.

    It parses just enough HTTP/1.1 (request line, headers, a ``Content-Length`` or chunked
    body), records the request, then follows the path's script:

    - :meth:`hang`: never answer; hold the connection until the client gives up or
      :meth:`stop`;
    - :meth:`reset`: close with a TCP RST (``SO_LINGER`` of zero);
    - :meth:`dribble`: a valid 200 whose body trickles in a few bytes at a time;
    - :meth:`huge`: a 200 with a large body (50 MiB by default), streamed;
    - :meth:`status`: any status with any headers and body (keep-alive);
    - :meth:`malformed`: bytes that are not HTTP, then close.

    Unscripted paths answer 200 with an empty body, so a misrouted request (a followed
    redirect, say) shows up in :meth:`requests`. Runs in the test's event loop.
    """

    def __init__(self) -> None:
        self._behaviours: dict[str, _Behaviour] = {}
        self._exchanges: list[ChaosExchange] = []
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    # Scripts: each replaces any earlier script for the same path.

    def hang(self, path: str) -> None:
        """Read the request and never answer."""
        self._behaviours[path] = _Hang()

    def reset(self, path: str) -> None:
        """Read the request, then reset the connection (RST, not FIN)."""
        self._behaviours[path] = _Reset()

    def dribble(
        self, path: str, seconds: float, *, chunk: bytes = b"drip", interval: float = 0.1
    ) -> None:
        """Answer 200 at once, but send the body one ``chunk`` per ``interval`` for at least
        ``seconds`` in all (``Content-Length`` announces the whole body)."""
        if not chunk or interval <= 0:
            raise ValueError("dribble needs a non-empty chunk and a positive interval")
        chunks = max(1, math.ceil(seconds / interval))
        self._behaviours[path] = _Dribble(chunks, chunk, interval)

    def huge(self, path: str, size: int = 50 * MiB, *, chunk_size: int = 64 * 1024) -> None:
        """Answer 200 with a ``size``-byte body (``Content-Length`` set), streamed in chunks."""
        if size < 0 or chunk_size <= 0:
            raise ValueError("huge needs a size >= 0 and a positive chunk size")
        self._behaviours[path] = _Huge(size, chunk_size)

    def status(
        self,
        path: str,
        code: int,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str = b"",
    ) -> None:
        """Answer ``code`` with ``headers`` (``Location``, ``Retry-After``...) and ``body``."""
        data = body.encode() if isinstance(body, str) else body
        self._behaviours[path] = _Answer(code, tuple((headers or {}).items()), data)

    def malformed(self, path: str, data: bytes = _GARBAGE) -> None:
        """Read the request, write ``data`` (not HTTP), then close."""
        self._behaviours[path] = _Malformed(data)

    # What arrived.

    def exchanges(self, path: str | None = None) -> list[ChaosExchange]:
        """The live records of what arrived so far (to ``path``, if given), in arrival order."""
        return [x for x in self._exchanges if path is None or x.request.path == path]

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        """A snapshot of the requests that arrived so far, in arrival order."""
        return [x.request for x in self.exchanges(path)]

    # Life cycle.

    async def start(self) -> None:
        # A plain (not async) callback: the handler tasks are created, tracked and
        # cancelled here rather than by asyncio's stream protocol.
        self._server = await asyncio.start_server(self._accept, _HOST, 0)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop every open connection at once, hanging ones included."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._connections.items())
        for task, writer in tasks:
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*(task for task, _ in tasks), return_exceptions=True)
        await server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports close their sockets

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer), name="hookline-chaos-conn")
        self._connections[task] = writer
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._connections.pop(task, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            task.get_loop().call_exception_handler(
                {"message": "ChaosReceiver connection handler failed", "exception": exc}
            )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                while await self._exchange(reader, writer):
                    pass
                writer.close()  # flushes what was written first
                await writer.wait_closed()
            except BaseException:
                writer.transport.abort()
                raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _BadRequest):
            pass  # the client went away or spoke garbage; either way the connection is gone

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; whether the connection stays open for another."""
        request = await _read_request(reader)
        if request is None:
            return False
        behaviour = self._behaviours.get(request.path, _OK)
        exchange = ChaosExchange(request, _KIND[type(behaviour)])
        self._exchanges.append(exchange)
        self._changed.set()
        try:
            return await self._perform(behaviour, exchange, reader, writer)
        except OSError:
            exchange.peer_closed = True
            raise
        finally:
            exchange.finished = True
            self._changed.set()

    async def _perform(
        self,
        behaviour: _Behaviour,
        exchange: ChaosExchange,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        def send(data: bytes) -> None:
            if writer.is_closing():
                raise ConnectionResetError("the connection is closed")
            writer.write(data)
            exchange.bytes_written += len(data)

        if isinstance(behaviour, _Answer):
            send(_head(behaviour.status, len(behaviour.body), behaviour.headers))
            send(behaviour.body)
            await writer.drain()
            return exchange.request.headers.get("connection", "").lower() != "close"
        if isinstance(behaviour, _Hang):
            while await reader.read(64 * 1024):  # until the client gives up, or stop()
                pass
            exchange.peer_closed = True
            return False
        if isinstance(behaviour, _Reset):
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if isinstance(behaviour, _Dribble):
            send(_head(200, behaviour.chunks * len(behaviour.chunk)))
            await writer.drain()
            for _ in range(behaviour.chunks):
                await asyncio.sleep(behaviour.interval)
                send(behaviour.chunk)
                await writer.drain()
            return False
        if isinstance(behaviour, _Huge):
            send(_head(200, behaviour.size))
            block = b"x" * behaviour.chunk_size
            left = behaviour.size
            while left > 0:
                piece = block if left >= len(block) else block[:left]
                send(piece)
                left -= len(piece)
                await writer.drain()
            return False
        send(behaviour.data)
        await writer.drain()
        return False


def _head(status: int, length: int, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
    """One request off the connection, or None if the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise
    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(request_line)
    headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _BadRequest(line)
        headers.add(name.strip(), value.strip())
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = headers.get("content-length", "0").strip()
        if not length.isdigit():
            raise _BadRequest(f"content-length: {length}")
        body = await reader.readexactly(int(length))
    return ReceivedRequest(
        method=parts[0],
        path=parts[1].split("?", 1)[0],
        headers=CIMultiDictProxy(headers),
        body=body,
        received_monotonic=time.monotonic(),
        received_wall=time.time(),
    )


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise _BadRequest(f"chunk size {size_line!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
