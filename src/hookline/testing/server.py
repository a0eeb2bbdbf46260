"""A real hookline (``hookline serve --dev`` in a subprocess) for an application's tests.

It runs on a temporary SQLite with a random admin token, on a free 127.0.0.1 port, with a
short retry schedule, and is stopped (SIGTERM, then SIGKILL) however the test ends:

    with HooklineServer(tmp_path) as server:
        app = server.post("/app", {"name": "shop"})

A subprocess, not the app in a thread: the test then talks to hookline exactly as the
application will, over HTTP, with hookline's own process model and worker.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

import hookline
from hookline.testing.ports import free_port

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 60.0  # seconds: a first start creates the schema on a busy CI machine
STOP_TIMEOUT = 10.0
# Compressed time, so a test sees retries within seconds; any of them can be overridden.
DEFAULT_ENV = {
    "HOOKLINE_RETRY_SCHEDULE": "0.2,0.4,0.8",
    "HOOKLINE_POLL_INTERVAL": "0.2",
    "HOOKLINE_REQUEST_TIMEOUT": "5",
    "HOOKLINE_LEASE_SECONDS": "10",
}


class HooklineServerError(AssertionError):
    """The server did not start, or a call through :class:`HooklineServer` did not succeed."""


class HooklineServer:
    """One ``hookline serve --dev --workers 0`` process (API and worker in one process).

    ``url`` is the server's root, ``api_url`` its ``/api/v1``, ``token`` the admin token.
    :meth:`get`, :meth:`post`, :meth:`patch` and :meth:`delete` take paths under
    ``api_url`` and return the decoded JSON, raising :class:`HooklineServerError` (with the
    response) on anything but 2xx; :meth:`request` returns the raw ``httpx.Response``.
    """

    def __init__(self, directory: Path, env: Mapping[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.token = "hl_test_" + secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.api_url = self.url + "/api/v1"
        self._env = {**DEFAULT_ENV, **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._svix: Any = None

    @property
    def log_path(self) -> Path:
        return self.directory / "hookline.log"

    def output(self) -> str:
        """What the server printed (stdout and stderr), for a failing test's report."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        # The server runs the hookline the test imported; a source tree (not an installed
        # package, whose site-packages must not go ahead of the standard library) is added.
        source = Path(hookline.__file__).resolve().parents[1]
        if source.name not in ("site-packages", "dist-packages"):
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
        env |= self._env
        env |= {"HOOKLINE_DATA_DIR": str(self.directory / "data"), "HOOKLINE_API_TOKEN": self.token}
        argv = [sys.executable, "-m", "hookline", "serve", "--dev", "--workers", "0"]
        argv += ["--host", LOOPBACK, "--port", str(self.port)]
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # a file: a pipe nobody drains would stall it
            self._proc = subprocess.Popen(
                argv, cwd=self.directory, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._client = httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30.0,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise HooklineServerError(
                    f"hookline serve exited with {self._proc.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.api_url + "/health", timeout=1.0).is_success:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise HooklineServerError(f"hookline not up after {STARTUP_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``STOP_TIMEOUT``; the exit code, None if never run."""
        if self._client is not None:
            self._client.close()
            self._client = None
        svix_http = getattr(self._svix, "_httpx_client", None)
        if isinstance(svix_http, httpx.Client):
            svix_http.close()
        self._svix = None
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
        return proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            raise HooklineServerError("the hookline server is not running")
        return self._client.request(method, path, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.is_success:
            raise HooklineServerError(f"{method} {path} -> {response.status_code} {response.text}")
        return response.json() if response.content else None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._json("GET", path, params=params)

    def post(self, path: str, json: Any = None) -> Any:
        return self._json("POST", path, json=json if json is not None else {})

    def patch(self, path: str, json: Any) -> Any:
        return self._json("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self._json("DELETE", path)

    def svix(self) -> Any:
        """A ``svix.Svix`` client for this server (needs the ``svix`` package): one per
        server, closed when it stops (the SDK has no close of its own, and an unclosed
        keep-alive socket is a ResourceWarning)."""
        if self._svix is None:
            from svix.api import Svix, SvixOptions

            self._svix = Svix(self.token, SvixOptions(server_url=self.url))
        return self._svix
