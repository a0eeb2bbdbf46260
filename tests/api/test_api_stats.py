"""Svix's statistics routes against what a real worker delivered to a receiver on
127.0.0.1, on SQLite and PostgreSQL: counted before and after the rollups fold them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import assert_error, create_app_record, create_endpoint_record
from live_server import svix_sdk
from svix.api import EndpointGetAttemptStatsOptions, EndpointGetStatsOptions

from hookline.addresses import AddressPolicy
from hookline.breaker import HealthPolicy
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.models import DeliveryStatus
from hookline.retry import RetryPolicy
from hookline.store.base import Store
from hookline.testing import Receiver

from api_helpers import as_served  # isort: skip

LOOPBACK_OK = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    await rx.start()
    try:
        yield rx
    finally:
        await rx.stop()


async def run_worker_until_settled(store: Store, app_id: str, msg_ids: list[str]) -> None:
    """A real worker (no jitter, three quick retries) until every delivery is final."""
    sender = Sender(SenderConfig(request_timeout=5, connect_timeout=5, policy=LOOPBACK_OK))
    await sender.open()
    worker = Worker(
        store,
        sender,
        RetryPolicy((0.05, 0.05, 0.05), jitter=0.0),
        WorkerConfig(poll_interval=0.05, lease_seconds=10, drain_timeout=6, health=HealthPolicy()),
    )
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 30
        while True:
            ds = [d for m in msg_ids for d in await store.list_deliveries(app_id, m)]
            if ds and all(d.next_attempt_at is None for d in ds):
                break
            assert time.monotonic() < deadline, ds
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await sender.close()


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }


async def delivered(store: Store, rx: Receiver) -> dict[str, Any]:
    """ok (a.one only): 3 successes; bad (b.two only): 4 failures (a 500, then three
    retries); flaky (everything): its first request fails (one 404, then retried), so 4
    successes and 1 failure."""
    rx.script("/ok", default=200)
    rx.script("/bad", default=500)
    rx.script("/flaky", [404], default=200)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with as_served(store, LOOPBACK_OK) as c:
        app = await create_app_record(c, uid="shop")
        ok = await create_endpoint_record(c, "shop", url=rx.url("/ok"), eventTypes=["a.one"])
        bad = await create_endpoint_record(c, "shop", url=rx.url("/bad"), eventTypes=["b.two"])
        flaky = await create_endpoint_record(c, "shop", url=rx.url("/flaky"))
        await create_endpoint_record(c, "shop", url=rx.url("/off"), disabled=True)
        other = await create_app_record(c, uid="quiet")
        await create_endpoint_record(c, "quiet", url=rx.url("/off2"), disabled=True)
        await create_app_record(c, uid="empty")
        msg_ids = []
        for event_type in ("a.one", "a.one", "a.one", "b.two"):
            resp = await c.post(
                "/api/v1/app/shop/msg", json={"eventType": event_type, "payload": {"k": 1}}
            )
            assert resp.status_code == 202, resp.text
            msg_ids.append(resp.json()["id"])
    await run_worker_until_settled(store, app["id"], msg_ids)
    statuses = [d.status for m in msg_ids for d in await store.list_deliveries(app["id"], m)]
    assert statuses.count(DeliveryStatus.FAILED) == 1  # bad's one message
    return {"app": app, "ok": ok, "bad": bad, "flaky": flaky, "other": other, "hour": hour}


async def check_counts(c: httpx.AsyncClient, ids: dict[str, Any]) -> None:
    app_id = ids["app"]["id"]
    want = {"ok": (3, 0), "bad": (0, 4), "flaky": (4, 1)}
    for name, (success, fail) in want.items():
        resp = await c.get(
            f"/api/v1/app/{app_id}/endpoint/{ids[name]['id']}/attempt-stats", params=window()
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"success": success, "fail": fail, "canceled": 0}, name

    resp = await c.get(f"/api/v1/app/{app_id}/stats/attempts", params=window())
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["total_success"], out["total_failure"], out["total_canceled"]) == (7, 5, 0)
    by_type = out["by_event_type"]
    assert sorted(by_type) == ["a.one", "b.two"]
    # every message reached flaky in the end; its one failure was one of either type
    assert (by_type["a.one"]["success"], by_type["b.two"]["success"]) == (6, 1)
    assert sum(v["failure"] for v in by_type.values()) == 5
    assert by_type["b.two"]["failure"] in (4, 5)

    now = datetime.now(UTC)
    if ids["hour"] == now.replace(minute=0, second=0, microsecond=0):  # not just turned
        # the window widens to whole hours, for the totals and the split alike
        narrow = {"since": now.isoformat(), "until": (now + timedelta(seconds=1)).isoformat()}
        again = (await c.get(f"/api/v1/app/{app_id}/stats/attempts", params=narrow)).json()
        assert (again["total_success"], again["total_failure"]) == (7, 5)
        assert again["by_event_type"] == by_type
        assert again["since"] == ids["hour"].isoformat().replace("+00:00", "Z")

    resp = await c.get(
        f"/api/v1/stats/app/{app_id}/attempt",
        params={
            "startDate": window()["since"],
            "endDate": window()["until"],
            "period": "FiveMinutes",
        },
    )
    assert resp.status_code == 200, resp.text
    series = resp.json()
    assert series["period"] == "FiveMinutes"
    data = series["data"]
    assert len(data["successCount"]) == len(data["failureCount"]) >= 24
    assert (sum(data["successCount"]), sum(data["failureCount"])) == (7, 5)

    assert (await c.get("/api/v1/app/stats/count-active")).json() == {"count": 1}
    everyone = await c.get("/api/v1/app/stats/count-active", params={"exclude_disabled": "false"})
    assert everyone.json() == {"count": 2}
    assert (await c.get("/api/v1/stats/endpoint/count")).json() == {"active": 3, "disabled": 2}


async def test_stats_equal_what_was_delivered(store: Store, receiver: Receiver) -> None:
    ids = await delivered(store, receiver)
    async with as_served(store) as c:
        await check_counts(c, ids)
        # once the maintenance loop has folded every row into the rollups: the same
        assert await store.fold_insights(int(time.time() * 1000) + 1, 10_000) > 0
        await check_counts(c, ids)


async def test_sdk_reads_the_endpoint_stats(store: Store, receiver: Receiver) -> None:
    ids = await delivered(store, receiver)
    app_id = ids["app"]["id"]
    async with svix_sdk(store) as sdk:
        now = datetime.now(UTC)
        opts = EndpointGetAttemptStatsOptions(since=now - timedelta(hours=2), until=now)
        got = await sdk.endpoint.get_attempt_stats(app_id, ids["flaky"]["id"], opts)
        assert (got.success, got.fail, got.canceled) == (4, 1, 0)
        # windows widen to whole hours: one starting now still holds this hour's attempts
        hourly = EndpointGetAttemptStatsOptions(since=now, until=now + timedelta(seconds=1))
        widened = await sdk.endpoint.get_attempt_stats(app_id, ids["flaky"]["id"], hourly)
        if ids["hour"] == now.replace(minute=0, second=0, microsecond=0):  # not just turned
            assert (widened.success, widened.fail) == (4, 1)
        default = await sdk.endpoint.get_attempt_stats(app_id, ids["bad"]["id"])
        assert (default.success, default.fail) == (0, 4)
        stats = await sdk.endpoint.get_stats(
            app_id, ids["bad"]["id"], EndpointGetStatsOptions(since=now - timedelta(hours=1))
        )
        assert (stats.success, stats.fail, stats.canceled) == (0, 1, 0)  # deliveries


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/app/{app}/stats/attempts", {}),
        ("/api/v1/app/{app}/stats/attempts", {"since": "2026-01-02T00:00:00Z"}),
        (
            "/api/v1/app/{app}/stats/attempts",
            {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        ),
        (
            "/api/v1/app/{app}/stats/attempts",
            {"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        ),
        ("/api/v1/app/{app}/stats/attempts", {"since": "yesterday", "until": "now"}),
        ("/api/v1/stats/app/{app}/attempt", {"period": "OneWeek"}),
        (
            "/api/v1/stats/app/{app}/attempt",
            {
                "startDate": "2026-01-01T00:00:00Z",
                "endDate": "2026-03-01T00:00:00Z",
                "period": "FiveMinutes",
            },
        ),
        ("/api/v1/app/{app}/endpoint/{ep}/attempt-stats", {"since": "2099-01-01T00:00:00Z"}),
        ("/api/v1/app/stats/count-active", {"exclude_disabled": "maybe"}),
    ],
)
async def test_bad_ranges_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    app = await create_app_record(client)
    ep = await create_endpoint_record(client, app["id"])
    resp = await client.get(path.format(app=app["id"], ep=ep["id"]), params=params)
    assert_error(resp, 422)


async def test_unknown_app_or_endpoint_is_404(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    for path in (
        "/api/v1/app/nope/stats/attempts",
        "/api/v1/stats/app/nope/attempt",
        f"/api/v1/app/{app['id']}/endpoint/nope/attempt-stats",
    ):
        assert_error(await client.get(path, params=window()), 404)
