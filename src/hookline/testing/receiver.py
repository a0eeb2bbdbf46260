"""The scripted receivers: a real HTTP server on 127.0.0.1 whose answers a test scripts,
in the test's event loop (:class:`Receiver`) or in a thread (:class:`ThreadedReceiver`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web
from multidict import CIMultiDictProxy

from hookline.signing import Webhook

LOOPBACK_HOST = "127.0.0.1"
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
    """How one path answers: each of ``statuses`` once, in order, then ``default`` forever;
    likewise each of ``delays`` (seconds before answering) once, then ``delay``."""

    statuses: deque[int] = field(default_factory=deque)
    default: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    delays: deque[float] = field(default_factory=deque)

    def next_status(self) -> int:
        return self.statuses.popleft() if self.statuses else self.default

    def next_delay(self) -> float:
        return self.delays.popleft() if self.delays else self.delay


class Recording:
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
        return f"http://{LOOPBACK_HOST}:{self.port}"

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


class Receiver(Recording):
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
        delays: Iterable[float] = (),
    ) -> None:
        """Set how ``path`` answers from now on, replacing any earlier script for it."""
        data = body.encode() if isinstance(body, str) else body
        script = Script(deque(statuses), default, data, dict(headers or {}), delay, deque(delays))
        with self._lock:
            self._scripts[path] = script

    def fail(self, path: str, times: int = 2, status: int = 500) -> None:
        """The next ``times`` requests to ``path`` get ``status``; later ones 200."""
        self.script(path, [status] * times)

    def timeout(self, path: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` requests to ``path`` wait ``seconds`` before their 200: set
        it past the sender's timeout and the sender gives up; later requests answer at once."""
        self.script(path, delays=[seconds] * times)

    def gone(self, path: str) -> None:
        """Every request to ``path`` gets ``410 Gone`` (a sender should stop sending)."""
        self.script(path, default=410)

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
        await web.TCPSite(runner, LOOPBACK_HOST, 0).start()
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
            delay = script.next_delay()
        self._changed.set()
        try:
            if (gate := self._gates.get(request.path)) is not None:
                await gate.wait()
            if delay > 0:
                await asyncio.sleep(delay)
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
        delays: Iterable[float] = (),
    ) -> None:
        self._receiver.script(
            path, statuses, default=default, body=body, headers=headers, delay=delay, delays=delays
        )

    def fail(self, path: str, times: int = 2, status: int = 500) -> None:
        self._receiver.fail(path, times, status)

    def timeout(self, path: str, seconds: float, times: int = 1) -> None:
        self._receiver.timeout(path, seconds, times)

    def gone(self, path: str) -> None:
        self._receiver.gone(path)

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        return self._receiver.requests(path)

    def unanswered(self, path: str | None = None) -> list[ReceivedRequest]:
        return self._receiver.unanswered(path)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        self._run(self._receiver.wait_until(predicate, timeout))

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 30.0
    ) -> list[ReceivedRequest]:
        return self._run(self._receiver.wait_for(count, path, timeout))

    async def wait_for_async(
        self, count: int, path: str | None = None, timeout: float = 30.0
    ) -> list[ReceivedRequest]:
        """:meth:`wait_for` for async tests: awaits without blocking the test's loop."""
        future = asyncio.run_coroutine_threadsafe(
            self._receiver.wait_for(count, path, timeout), self._loop
        )
        return await asyncio.wrap_future(future)

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()
