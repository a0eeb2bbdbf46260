"""A real hookline for the CLI tests (imported as ``cli_server``; the fixtures are in
``conftest.py``): the API served on a 127.0.0.1 socket, with the
delivery worker, fan-out and maintenance (which runs background tasks) on the same
SQLite store, all on one event loop in a background thread, once per test module.

Deliveries go to a small receiver on the same loop: ``/ok`` answers 200, ``/fail`` 500.
Commands run in-process through ``CliRunner`` with ``HOOKLINE_URL``/``HOOKLINE_TOKEN``/
``HOOKLINE_CONFIG`` in their environment; ``run`` also checks that the token never shows.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))

from api_helpers import TOKEN, make_settings
from live_server import serving

from hookline import runtime
from hookline.addresses import AddressPolicy
from hookline.cli import main

LOOPBACK_OK = AddressPolicy.build(False, [], True)


class ThreadedServer:
    """``serving(store)`` plus the worker roles, in a thread with its own event loop."""

    def __init__(self, data_dir: Path) -> None:
        settings = make_settings(data_dir).model_copy(
            update={"run_api": False, "retry_schedule": (), "poll_interval": 0.05}
        )
        self._roles = runtime.build_roles(settings, dev=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.url = ""
        self.receiver = ""
        self._thread = threading.Thread(target=self._main, name="hookline-test-server")

    def start(self) -> ThreadedServer:
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        receiver = web.Application()
        receiver.router.add_post("/ok", _ok)
        receiver.router.add_post("/fail", _fail)
        runner = web.AppRunner(receiver, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.receiver = f"http://127.0.0.1:{runner.addresses[0][1]}"
        roles = self._roles
        started = asyncio.Event()
        workers = asyncio.create_task(runtime.run(roles, started))
        try:
            await started.wait()
            async with serving(roles.store, address_policy=LOOPBACK_OK) as base:
                self.url = base
                self._ready.set()
                await self._stop.wait()
        finally:
            for role in (roles.worker, roles.maintenance, roles.fanout):
                if role is not None:
                    role.stop()
            await workers
            await runner.cleanup()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(status=200, text="ok")


async def _fail(request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")


@dataclass
class Cli:
    """Runs ``hookline`` in-process against the module's server."""

    server: ThreadedServer
    config: Path

    @property
    def env(self) -> dict[str, str | None]:
        return {
            "HOOKLINE_URL": self.server.url,
            "HOOKLINE_TOKEN": TOKEN,
            "HOOKLINE_CONFIG": str(self.config),
            "HOOKLINE_PROFILE": None,
            # pytest-xdist's workers get COLUMNS=80 from execnet; output that is not a
            # terminal has the CLI's own fixed width unless a test sets COLUMNS
            "COLUMNS": None,
        }

    def run(
        self, *args: str, ok: bool = True, input: str | None = None, **env: str | None
    ) -> Result:
        result = CliRunner().invoke(main, list(args), input=input, env={**self.env, **env})
        assert TOKEN not in result.stdout and TOKEN not in result.stderr, "token printed"
        if ok:
            assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        else:
            assert result.exit_code != 0, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                "a traceback, not an error line"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)
