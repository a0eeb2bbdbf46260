"""End-to-end fixtures: real ``hookline serve`` processes on 127.0.0.1 and a real receiver.

``start_server`` is a factory so a test can kill a server and start another on the same data
directory. A test that also asks for ``database_url`` runs on both backends: on PostgreSQL
every process it starts shares that database, the admin token and the at-rest key.
Every process it starts is stopped at teardown (SIGTERM, then SIGKILL), and its output is
attached to the report of a failing test.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import hookline
from hookline.signing.at_rest import generate_key
from hookline.testing import Receiver
from hookline.testing.ports import free_port

STARTUP_TIMEOUT = 60.0  # a parent and its children start on a shared, busy machine
STOP_TIMEOUT = 10.0
SRC_DIR = Path(hookline.__file__).resolve().parents[1]

# Compressed time so retries and lease expiry happen within a test; tests override as needed.
BASE_ENV = {
    "HOOKLINE_RETRY_SCHEDULE": "0.2,0.2,0.4",
    "HOOKLINE_POLL_INTERVAL": "0.2",
    "HOOKLINE_REQUEST_TIMEOUT": "5",
    "HOOKLINE_LEASE_SECONDS": "8",
}


@dataclass
class ServerHandle:
    base_url: str
    token: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    stderr_path: Path
    stdout_path: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def output(self) -> str:
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        out = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        return f"--- stderr ---\n{err}\n--- stdout ---\n{out}"

    def api(self) -> Api:
        return Api(self)

    def kill(self) -> int:
        """SIGKILL: the crash we want to survive."""
        self.proc.kill()
        return self.proc.wait()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then SIGKILL if the process has not exited after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class Api:
    """A thin async client for the Svix-shaped API; every call asserts the documented status."""

    def __init__(self, server: ServerHandle) -> None:
        self.server = server
        self.client = httpx.AsyncClient(
            base_url=server.base_url + "/api/v1",
            headers=server.auth,
            timeout=30.0,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def _call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path} {kwargs.get('json')!r} -> {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    async def create_app(self, name: str, uid: str | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if uid is not None:
            body["uid"] = uid
        app = await self._call("POST", "/app", 201, json=body)
        return str(app["id"])

    async def create_endpoint(self, app_id: str, url: str, **fields: Any) -> dict[str, Any]:
        endpoint: dict[str, Any] = await self._call(
            "POST", f"/app/{app_id}/endpoint", 201, json={"url": url, **fields}
        )
        return endpoint

    async def endpoint_secret(self, app_id: str, endpoint_id: str) -> str:
        out = await self._call("GET", f"/app/{app_id}/endpoint/{endpoint_id}/secret", 200)
        return str(out["key"])

    async def publish(self, app_id: str, event_type: str, payload: Any, **fields: Any) -> str:
        body = {"eventType": event_type, "payload": payload, **fields}
        msg = await self._call("POST", f"/app/{app_id}/msg", 202, json=body)
        return str(msg["id"])

    async def attempts_by_msg(self, app_id: str, msg_id: str) -> list[dict[str, Any]]:
        return await self._list(f"/app/{app_id}/attempt/msg/{msg_id}")

    async def attempts_by_endpoint(self, app_id: str, endpoint_id: str) -> list[dict[str, Any]]:
        return await self._list(f"/app/{app_id}/attempt/endpoint/{endpoint_id}")

    async def _list(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 250}
        while True:
            page = await self._call("GET", path, 200, params=params)
            items.extend(page["data"])
            if page["done"] or not page.get("iterator"):
                return items
            params["iterator"] = page["iterator"]

    @staticmethod
    async def eventually(
        check: Callable[[], Awaitable[bool]], timeout: float = 30.0, interval: float = 0.2
    ) -> None:
        """Poll ``check`` until it returns true; raise TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)


@dataclass
class _Servers:
    tmp_path: Path
    database_url: str | None = None  # None: SQLite in the data folder
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    secret_key: str = field(default_factory=generate_key)
    handles: list[ServerHandle] = field(default_factory=list)

    def start(
        self,
        data_dir: Path | None = None,
        env_overrides: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        args: Sequence[str] = (),
    ) -> ServerHandle:
        n = len(self.handles)
        data_dir = data_dir or self.tmp_path / "data"
        port = port or free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
        env |= BASE_ENV
        env |= {"HOOKLINE_DATA_DIR": str(data_dir), "HOOKLINE_API_TOKEN": self.token}
        if self.database_url is not None:  # processes with data folders of their own agree
            env |= {"HOOKLINE_DATABASE_URL": self.database_url}
            env |= {"HOOKLINE_SECRET_KEY": self.secret_key}
        env |= dict(env_overrides or {})
        stdout_path = self.tmp_path / f"server{n}.stdout"
        stderr_path = self.tmp_path / f"server{n}.stderr"
        handle = ServerHandle(
            base_url=f"http://127.0.0.1:{port}",
            token=env["HOOKLINE_API_TOKEN"],
            proc=self._spawn(port, env, stdout_path, stderr_path, args),
            data_dir=data_dir,
            stderr_path=stderr_path,
            stdout_path=stdout_path,
        )
        self.handles.append(handle)
        self._wait_healthy(handle)
        return handle

    def _spawn(
        self,
        port: int,
        env: dict[str, str],
        stdout_path: Path,
        stderr_path: Path,
        args: Sequence[str] = (),
    ) -> subprocess.Popen[bytes]:
        # --dev lets deliveries reach the receiver on loopback, which the SSRF guard refuses.
        argv = [sys.executable, "-m", "hookline", "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--dev", *args]
        # Files rather than pipes: nobody drains a pipe while the test runs, and a full pipe
        # would stall the server.
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            return subprocess.Popen(
                argv, cwd=self.tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )

    @staticmethod
    def _wait_healthy(handle: ServerHandle) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        url = handle.base_url + "/api/v1/health"
        while time.monotonic() < deadline:
            if handle.proc.poll() is not None:
                pytest.fail(
                    f"hookline serve exited with {handle.proc.returncode} during startup\n"
                    + handle.output()
                )
            try:
                if httpx.get(url, timeout=1.0).is_success:  # unauthenticated on purpose
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        handle.stop()
        pytest.fail(f"hookline serve not healthy after {STARTUP_TIMEOUT}s\n" + handle.output())

    def stop_all(self) -> None:
        for handle in self.handles:
            handle.stop()


_SERVERS = pytest.StashKey[_Servers]()


@pytest.fixture
def start_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ServerHandle]]:
    """``start_server(data_dir=None, env_overrides=None, port=None, args=()) -> ServerHandle``.

    Blocking: async tests call it through ``asyncio.to_thread`` so their receiver keeps serving.
    On the test's ``database_url`` when it asks for one (both backends), else SQLite.
    """
    url = (
        request.getfixturevalue("database_url") if "database_url" in request.fixturenames else None
    )
    servers = _Servers(tmp_path, database_url=url)
    request.node.stash[_SERVERS] = servers
    try:
        yield servers.start
    finally:
        servers.stop_all()


@pytest.fixture(scope="module")
def start_module_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ServerHandle]]:
    """``start_server`` for servers shared by the tests of one module: a start costs seconds."""
    servers = _Servers(tmp_path_factory.mktemp("servers"))
    try:
        yield servers.start
    finally:
        servers.stop_all()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rx:
        yield rx


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    servers = item.stash.get(_SERVERS, None)
    if servers is not None and report.failed and call.when == "call":
        for n, handle in enumerate(servers.handles):
            report.sections.append((f"hookline server {n} output", handle.output()))
    return report
