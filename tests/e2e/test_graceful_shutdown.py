"""SIGTERM drains: in-flight deliveries finish and are recorded, the rest wait for a restart."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from datetime import datetime

import pytest

pytestmark = pytest.mark.e2e

MESSAGES = 6
EXIT_TIMEOUT = 15.0
SUCCESS = 0
# Two senders against a receiver that takes a second per request: at SIGTERM some deliveries
# are in flight and others still queued.
ENV = {"HOOKLINE_WORKER_CONCURRENCY": "2"}


async def test_sigterm_drains_in_flight_and_restart_delivers_the_rest(start_server, receiver):
    receiver.script("/slow", delay=1.0)
    server = await asyncio.to_thread(start_server, None, ENV)

    async with server.api() as api:
        app_id = await api.create_app("drain")
        await api.create_endpoint(app_id, receiver.url("/slow"))
        published = {await api.publish(app_id, "order.created", {"n": n}) for n in range(MESSAGES)}

    await receiver.wait_for(1, "/slow")
    in_flight = {r.webhook_id for r in receiver.requests("/slow")}
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(server.proc.wait, EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hookline serve still running {EXIT_TIMEOUT}s after SIGTERM")
    assert code == 0, f"exit code {code} after SIGTERM"

    restarted_at = time.time()
    restarted = await asyncio.to_thread(start_server, server.data_dir, ENV)

    def received() -> set[str | None]:
        return {r.webhook_id for r in receiver.requests("/slow")}

    with contextlib.suppress(TimeoutError):  # the assertion below says what is missing
        await receiver.wait_until(lambda: received() >= published, timeout=30)
    assert not published - received(), f"lost after SIGTERM + restart: {published - received()}"
    assert received() <= published

    # The deliveries in flight at SIGTERM were completed and recorded by the old process.
    async with restarted.api() as api:
        for msg_id in in_flight:
            attempts = await api.attempts_by_msg(app_id, msg_id)
            drained = [
                a
                for a in attempts
                if a["status"] == SUCCESS
                and datetime.fromisoformat(a["timestamp"]).timestamp() < restarted_at
            ]
            assert drained, f"{msg_id} was in flight at SIGTERM but no success recorded: {attempts}"
