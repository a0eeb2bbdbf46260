"""A receiver that misbehaves below HTTP: hangs, resets, dribbles, floods, garbage."""

from __future__ import annotations

import asyncio
import http
import math
import socket
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy

from hookline.testing.receiver import LOOPBACK_HOST, ReceivedRequest, Recording

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


class ChaosReceiver(Recording):
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
        self._server = await asyncio.start_server(self._accept, LOOPBACK_HOST, 0)
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
