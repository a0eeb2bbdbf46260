"""A PostgreSQL restart under real processes: nothing exits, the API answers 503 while the
database is down, the workers pause quietly and resume, and wake-ups work again after.

The test stops and starts a server of its own, so the session's server is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from typing import Any

import httpx
import pytest

from hookline.signing.at_rest import generate_key

pytestmark = pytest.mark.e2e

POLL_INTERVAL = 30.0  # long, so a delivery within a fraction of it came from a wake-up
DOWN_FOR_S = 4.0  # how long the database stays down
REQUEST_BOUND_S = 20.0  # generous: no request may hang past it while the database is down
BEFORE, AFTER = 10, 8
SECRET = "restart-secret"


async def _publish_all(api: Any, app_id: str, ns: range) -> dict[int, str]:
    ids: dict[int, str] = {}
    for n in ns:
        ids[n] = await api.publish(app_id, "order.created", {"n": n})
    return ids


async def _outage_answers(
    client: httpx.AsyncClient, app_id: str, ingest_url: str
) -> dict[str, httpx.Response]:
    """One of each request the database is needed for, made while it is down."""
    body = {"eventType": "order.created", "payload": {"n": -1}}
    calls = {
        "publish": client.post(f"/api/v1/app/{app_id}/msg", json=body),
        "publish-idempotent": client.post(
            f"/api/v1/app/{app_id}/msg", json=body, headers={"Idempotency-Key": "outage-1"}
        ),
        "inbound": client.post(ingest_url, content=b'{"n": -2}'),
        "health": client.get("/api/v1/health"),
    }
    answers: dict[str, httpx.Response] = {}
    for name, call in calls.items():
        answers[name] = await asyncio.wait_for(call, REQUEST_BOUND_S)
    return answers


async def test_postgres_restart_pauses_and_resumes_every_process(
    own_postgres, start_server, receiver
):
    url = own_postgres.create_database("hookline")
    env = {"HOOKLINE_DATABASE_URL": url, "HOOKLINE_SECRET_KEY": generate_key()}
    # the supervised layout (an API process and a worker process under one parent), whose
    # worker wakes on notifications only; and a busy one-process server that polls often
    server = await asyncio.to_thread(
        start_server,
        None,
        env | {"HOOKLINE_POLL_INTERVAL": str(POLL_INTERVAL)},
        args=["--workers", "1"],
    )
    poller = await asyncio.to_thread(
        start_server, None, env | {"HOOKLINE_POLL_INTERVAL": "0.3"}, args=["--workers", "0"]
    )
    async with (
        server.api() as api,
        httpx.AsyncClient(base_url=server.base_url, headers=server.auth, timeout=60) as client,
    ):
        app_id = await api.create_app("restart")
        await api.create_endpoint(app_id, receiver.url("/rx"))
        source = await client.post(
            "/ingest/api/v1/source",
            json={"name": "github", "type": "github", "config": {"secret": SECRET}},
        )
        assert source.status_code == 201, source.text
        accepted = await _publish_all(api, app_id, range(BEFORE))
        await receiver.wait_for(BEFORE, "/rx", timeout=30)

        await asyncio.to_thread(own_postgres.stop)
        down_at = time.monotonic()
        answers = await _outage_answers(client, app_id, source.json()["ingestUrl"])
        await asyncio.sleep(max(0.0, DOWN_FOR_S - (time.monotonic() - down_at)))
        for proc in (server, poller):
            assert proc.proc.poll() is None, "a server exited while the database was down"
        await asyncio.to_thread(own_postgres.start)
        down_for = time.monotonic() - down_at

        for name, answer in answers.items():
            assert answer.status_code == 503, f"{name}: {answer.status_code} {answer.text}"
            assert answer.headers.get("Retry-After", "").isdigit(), name
            if name != "inbound":
                assert answer.json()["code"] == "store_unavailable", name

        async def healthy() -> bool:
            return (await client.get("/api/v1/health")).status_code == 204

        await api.eventually(healthy, timeout=30)
        # the poller has done its part: from here on only notifications wake a worker
        assert await asyncio.to_thread(poller.stop) == 0, poller.output()

        # wake-ups: the listeners reconnect with a backoff of at most 5 s; then each
        # publish (the first one after the restart included) is delivered within a
        # fraction of the poll interval
        await asyncio.sleep(6)
        latencies = []
        for n in range(BEFORE, BEFORE + AFTER):
            seen = len(receiver.requests("/rx"))
            accepted[n] = await api.publish(app_id, "order.created", {"n": n})
            sent = time.monotonic()
            await receiver.wait_for(seen + 1, "/rx", timeout=POLL_INTERVAL * 3)
            latencies.append(time.monotonic() - sent)

        # the publish refused with a key goes through when retried with it
        retried = await client.post(
            f"/api/v1/app/{app_id}/msg",
            json={"eventType": "order.created", "payload": {"n": -1}},
            headers={"Idempotency-Key": "outage-1"},
        )
        assert retried.status_code == 202, retried.text
        accepted[-1] = retried.json()["id"]

    def delivered() -> bool:
        return {r.webhook_id for r in receiver.requests("/rx")} >= set(accepted.values())

    with contextlib.suppress(TimeoutError):  # the assertion says what is missing
        await receiver.wait_until(delivered, timeout=POLL_INTERVAL * 2)
    got = {r.webhook_id for r in receiver.requests("/rx")}
    missing = {n for n, msg_id in accepted.items() if msg_id not in got}
    assert not missing, f"accepted but not delivered: {sorted(missing)}"

    assert statistics.median(latencies) < POLL_INTERVAL / 10, latencies
    assert max(latencies) < POLL_INTERVAL / 4, latencies

    assert server.proc.poll() is None
    for handle in (server, poller):
        log = handle.output()
        assert " exited (" not in log, "a process exited during the outage:\n" + log
        assert "Traceback" not in log, log
        paused = [line for line in log.splitlines() if "paused" in line]
        # a warning per loop and process as the outage starts, then one per 5 s at most
        loops = 5  # claims, fan-out, maintenance, routing, wake-ups (each process)
        assert len(paused) <= 2 * loops * (2 + down_for / 5), "\n".join(paused)
