"""Leases between worker processes on one PostgreSQL database, with real processes.

A worker that loses its database connections mid-send, and its lease with them, must not
record the result: the delivery belongs to whoever claimed it since. A worker killed with
SIGKILL leaves its deliveries to the others once their leases expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter

import psycopg
import pytest

pytestmark = pytest.mark.e2e

LEASE_S = 3.0
ENV = {
    "HOOKLINE_LEASE_SECONDS": str(LEASE_S),
    "HOOKLINE_REQUEST_TIMEOUT": "2",
    "HOOKLINE_POLL_INTERVAL": "0.2",
}
ONE_PROCESS = ["--workers", "0"]  # the API and a worker in one process
SUCCESS = 0


def _terminate_backends(url: str, app_name: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app_name,),
        ).fetchall()
    return len(rows)


@contextlib.contextmanager
def _paused(pid: int):
    """SIGSTOP, as a long garbage-collection pause or a frozen VM would; SIGCONT after."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_a_worker_that_lost_its_lease_mid_send_records_nothing(
    start_server, receiver, postgres_url
):
    # The first request (worker A's) fails, the second (worker B's) succeeds: the
    # delivery's final state shows whose result was recorded.
    receiver.script("/slow", [500, 200])
    receiver.hold("/slow")
    env_a = ENV | {"HOOKLINE_DATABASE_URL": postgres_url, "PGAPPNAME": "hookline-worker-a"}
    a = await asyncio.to_thread(start_server, None, env_a, args=ONE_PROCESS)
    async with a.api() as api:
        app_id = await api.create_app("fence")
        endpoint = await api.create_endpoint(app_id, receiver.url("/slow"))
        secret = await api.endpoint_secret(app_id, endpoint["id"])
        msg_id = await api.publish(app_id, "order.created", {"n": 1})
        await receiver.wait_for(1, "/slow", timeout=20)  # A's request, held open

        with _paused(a.proc.pid):
            assert _terminate_backends(postgres_url, "hookline-worker-a") >= 1
            env_b = ENV | {"HOOKLINE_DATABASE_URL": postgres_url}
            # B claims the delivery once A's lease has run out, and sends it again
            b = await asyncio.to_thread(start_server, None, env_b, args=ONE_PROCESS)
            await receiver.wait_for(2, "/slow", timeout=LEASE_S * 5)
            receiver.release("/slow")  # both answered; A only reads its answer later

            async with b.api() as api_b:

                async def recorded() -> bool:
                    attempts = await api_b.attempts_by_msg(app_id, msg_id)
                    return any(x["status"] == SUCCESS for x in attempts)

                await api_b.eventually(recorded, timeout=20)

        # A wakes up with a dead connection and a result under a lease it lost
        async def fenced() -> bool:
            return "dropped 1 of 1 results" in a.output()

        await api.eventually(fenced, timeout=20)
        await asyncio.sleep(1)  # room for a wrongly recorded failure to schedule a retry

        attempts = await api.attempts_by_msg(app_id, msg_id)
        assert [x["status"] for x in attempts] == [SUCCESS], attempts
        assert attempts[0]["responseStatusCode"] == 200

    requests = receiver.requests("/slow")
    assert len(requests) == 2, "a result recorded under a lost lease scheduled a retry"
    assert {r.webhook_id for r in requests} == {msg_id}
    for request in requests:
        request.verify(secret)
    assert a.proc.poll() is None and b.proc.poll() is None
    assert "Traceback" not in a.output(), a.output()


async def test_sigkilled_worker_leaves_its_deliveries_to_another(
    start_server, receiver, postgres_url
):
    total, lease_s = 30, 6.0
    receiver.hold("/work")
    env = ENV | {"HOOKLINE_DATABASE_URL": postgres_url, "HOOKLINE_LEASE_SECONDS": str(lease_s)}
    # B is up first, and frozen while A claims everything; it runs beside A when A dies
    b = await asyncio.to_thread(start_server, None, env, args=ONE_PROCESS)
    with _paused(b.proc.pid):
        a = await asyncio.to_thread(start_server, None, env, args=ONE_PROCESS)
        async with a.api() as api:
            app_id = await api.create_app("sigkill")
            await api.create_endpoint(app_id, receiver.url("/work"))
            accepted = {
                n: await api.publish(app_id, "order.created", {"n": n}) for n in range(total)
            }
            await receiver.wait_for(4, "/work", timeout=20)  # A holds leases, unanswered
    a.kill()
    first = {r.json()["n"]: r.received_monotonic for r in receiver.requests("/work")}
    receiver.release("/work")  # A's held requests now answer a closed connection

    def counts() -> Counter[int]:
        return Counter(r.json()["n"] for r in receiver.requests("/work"))

    with contextlib.suppress(TimeoutError):
        await receiver.wait_until(lambda: counts().keys() >= accepted.keys(), timeout=30)
        await receiver.wait_until(lambda: all(counts()[n] >= 2 for n in first), timeout=15)
    got = counts()
    assert accepted.keys() - got.keys() == set(), "accepted but never delivered"
    assert all(got[n] >= 2 for n in first), f"leased by the killed worker, never resent: {first}"
    ids = {(r.json()["n"], r.webhook_id) for r in receiver.requests("/work")}
    assert ids == set(accepted.items()), "a redelivery changed its webhook-id"
    for r in receiver.requests("/work"):
        n = r.json()["n"]
        if n in first and r.received_monotonic > first[n]:
            waited = r.received_monotonic - first[n]
            assert waited > lease_s * 0.8, f"{n} taken from a lease {waited:.1f}s old"

    async with b.api() as api:

        async def all_recorded() -> bool:
            for msg_id in accepted.values():
                attempts = await api.attempts_by_msg(app_id, msg_id)
                if [x["status"] for x in attempts] != [SUCCESS]:
                    return False
            return True

        await api.eventually(all_recorded, timeout=20)
