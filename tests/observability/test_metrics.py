"""``GET /metrics``: real deliveries, publishes, API calls and received requests move
exactly the samples they should, read back with prometheus_client's parser."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

from metrics_kit import AUTH, Served, eventually, parse, serve, value

from hookline import ids
from hookline.api.metrics_route import GaugeCache
from hookline.models import Application
from hookline.sources import Source
from hookline.testing import Receiver

ATTEMPTS = "hookline_delivery_attempts_total"
PUBLISH_ROUTE = "/api/v1/app/{app_id}/msg"


async def _app_with_endpoints(server: Served, receiver: Receiver, paths: list[str]) -> str:
    app = await server.call("POST", "/api/v1/app", 201, json={"name": "shop"})
    for path in paths:
        body = {"url": receiver.url(path)}
        await server.call("POST", f"/api/v1/app/{app['id']}/endpoint", 201, json=body)
    return str(app["id"])


async def test_deliveries_publishes_and_requests_move_exactly_their_samples(
    tmp_path: Path,
) -> None:
    async with Receiver() as receiver, serve(tmp_path, request_timeout=1.0) as server:
        receiver.fail("/fail", times=1, status=500)  # then 200 on the retry
        receiver.timeout("/slow", seconds=3, times=1)  # past the 1 s timeout, then 200
        receiver.gone("/gone")  # 410: given up, the endpoint disabled
        app_id = await _app_with_endpoints(server, receiver, ["/ok", "/fail", "/slow", "/gone"])
        before = await server.scrape()
        assert value(before, ATTEMPTS) == 0
        await server.call("POST", f"/api/v1/app/{app_id}/msg", 202, json=_msg())

        # six attempts: /ok 1, /fail 2, /slow 2, /gone 1
        async def recorded() -> bool:
            return value(await server.scrape(), ATTEMPTS) >= 6

        await eventually(recorded)
        await server.client.get(f"/api/v1/app/{app_id}")  # no token: 401
        await server.client.get("/no/such/path", headers=AUTH)

        async def settled() -> bool:
            found = await server.scrape()
            return value(found, "hookline_endpoints", state="disabled") == 1

        await eventually(settled)  # the gauges are cached for two seconds
        after = await server.scrape()

    def attempts(outcome: str, kind: str) -> float:
        return value(after, ATTEMPTS, outcome=outcome, error_kind=kind, trigger="scheduled")

    assert value(after, ATTEMPTS) == 6
    assert attempts("success", "none") == 3
    assert attempts("failure", "http_status") == 2  # the 500 and the 410
    assert attempts("failure", "timeout") == 1
    assert value(after, "hookline_delivery_attempt_duration_seconds_count") == 6
    # the timed-out attempt took about a second; the others far less
    assert value(after, "hookline_delivery_attempt_duration_seconds_bucket", le="0.5") == 5
    assert value(after, "hookline_delivery_end_to_end_seconds_count") == 3
    assert value(after, "hookline_delivery_end_to_end_seconds_bucket", le="0.01") < 3
    assert value(after, "hookline_deliveries_given_up_total", reason="endpoint_gone") == 1
    assert value(after, "hookline_deliveries_given_up_total", reason="retries_exhausted") == 0
    assert value(after, "hookline_messages_published_total") == 1
    # route templates, never raw paths: the fast publish path counts under its route
    requests = "hookline_api_requests_total"
    assert value(after, requests, route=PUBLISH_ROUTE, code="202") == 1
    assert value(after, requests, route="/api/v1/app/{app_id}/endpoint", code="201") == 4
    assert value(after, requests, route="/api/v1/app/{app_id}", code="401") == 1
    assert value(after, requests, route="other", code="404") == 1
    routes = {dict(k)["route"] for k in after[requests]}
    assert not any(app_id in r or "/no/such" in r for r in routes), routes
    duration = "hookline_api_request_duration_seconds_count"
    assert value(after, duration, route=PUBLISH_ROUTE) == 1
    # the gauges: the queue is empty, one endpoint disabled by its 410
    assert value(after, "hookline_endpoints", state="active") == 3
    assert value(after, "hookline_endpoints", state="breaker_open") == 0
    assert value(after, "hookline_queue_depth") == 0
    assert value(after, "hookline_queue_oldest_ready_age_seconds") == 0


async def test_queue_gauges_count_waiting_deliveries_and_their_age(tmp_path: Path) -> None:
    async with Receiver() as receiver, serve(tmp_path, run_worker=False) as server:
        app_id = await _app_with_endpoints(server, receiver, ["/a", "/b"])
        for _ in range(3):
            await server.call("POST", f"/api/v1/app/{app_id}/msg", 202, json=_msg())
        found = await server.scrape()
    assert value(found, "hookline_queue_depth", state="ready") == 6
    assert value(found, "hookline_queue_depth", state="sending") == 0
    assert value(found, "hookline_queue_oldest_ready_age_seconds") > 0
    assert value(found, "hookline_endpoints", state="active") == 2


async def test_inbound_requests_are_counted_by_source_type_and_verdict(tmp_path: Path) -> None:
    async with serve(tmp_path) as server:
        github = await _source(server, "github", {"secret": "whsec_" + "a" * 32})
        open_source = await _source(server, "none", {})
        unsigned = await server.client.post(f"/in/{github}", content=b'{"a":1}')
        assert unsigned.status_code == 401
        accepted = await server.client.post(f"/in/{open_source}", content=b'{"a":1}')
        assert accepted.status_code == 200
        again = await server.client.post(f"/in/{open_source}", content=b'{"a":1}')
        assert again.status_code == 200  # the same body: a duplicate
        found = await server.scrape()
    inbound = "hookline_inbound_requests_total"
    assert value(found, inbound, source_type="github", verdict="rejected") == 1
    assert value(found, inbound, source_type="none", verdict="accepted") == 1
    assert value(found, inbound, source_type="none", verdict="duplicate") == 1
    assert value(found, inbound) == 3


async def test_labels_stay_bounded_unless_per_endpoint_labels_are_asked_for(
    tmp_path: Path,
) -> None:
    for per_endpoint in (False, True):
        async with (
            Receiver() as receiver,
            serve(tmp_path, metrics_per_endpoint=per_endpoint) as server,
        ):
            paths = [f"/e{n}" for n in range(50)]
            app_id = await _app_with_endpoints(server, receiver, paths)
            for _ in range(2):
                await server.call("POST", f"/api/v1/app/{app_id}/msg", 202, json=_msg())

            async def delivered() -> bool:
                return value(await server.scrape(), ATTEMPTS) == 100

            await eventually(delivered)
            for n in range(20):  # distinct application paths: one route label
                await server.client.get(f"/api/v1/app/app_missing{n}", headers=AUTH)
            found = await server.scrape()
        label_sets = found[ATTEMPTS]
        assert len(label_sets) == (50 if per_endpoint else 1), label_sets.keys()
        routes = {dict(k)["route"] for k in found["hookline_api_requests_total"]}
        assert routes == {
            "/api/v1/app",
            "/api/v1/app/{app_id}/endpoint",
            PUBLISH_ROUTE,
            "/api/v1/app/{app_id}",
        }


async def test_metrics_need_the_admin_token_or_a_server_wide_key(tmp_path: Path) -> None:
    async with serve(tmp_path) as server:
        app = await server.call("POST", "/api/v1/app", 201, json={"name": "a"})
        scoped = await server.call(
            "POST", "/api/v1/auth/api-token", 201, json={"name": "k", "appId": app["id"]}
        )
        wide = await server.call("POST", "/api/v1/auth/api-token", 201, json={"name": "w"})
        access = f"/api/v1/auth/app-portal-access/{app['id']}"
        portal = await server.call("POST", access, 200, json={})
        missing = await server.client.get("/metrics")
        assert missing.status_code == 401
        assert set(missing.json()) == {"code", "detail"}
        wrong = await server.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        for token in (scoped["token"], portal["token"]):
            refused = await server.client.get("/metrics", headers=_bearer(token))
            assert refused.status_code == 403, refused.text
            assert "hookline_" not in refused.text
        parse((await server.client.get("/metrics", headers=_bearer(wide["token"]))).text)
        assert (await server.client.get("/metrics", headers=AUTH)).status_code == 200
        schema = (await server.client.get("/openapi.json")).json()
        assert "/metrics" not in schema["paths"]
    async with serve(tmp_path, metrics_public=True) as server:
        open_scrape = await server.client.get("/metrics")
        assert open_scrape.status_code == 200
        assert "hookline_messages_published_total" in open_scrape.text
    async with serve(tmp_path, metrics=False) as server:
        off = await server.client.get("/metrics", headers=AUTH)
        assert off.status_code == 404
        assert set(off.json()) == {"code", "detail"}


async def _source(server: Served, provider: str, config: dict[str, object]) -> str:
    """A source made through the store, as the Ingest API makes it; its intake token."""
    now = int(time.time() * 1000)
    app = Application(id=ids.new_id("app"), name=provider, created_at=now, updated_at=now)
    token = secrets.token_urlsafe(32)
    source = Source(
        id=ids.new_id("src"),
        name=provider,
        provider=provider,
        config=config,
        token=token,
        app_id=app.id,
        created_at=now,
        updated_at=now,
    )
    await server.store.create_source(source, app)
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _msg() -> dict[str, object]:
    return {"eventType": "order.paid", "payload": {"n": 1}}


async def test_scrapes_share_one_store_read_within_the_cache_window(tmp_path: Path) -> None:
    async with serve(tmp_path) as server:
        cache = GaugeCache(server.store, ttl_s=60)
        together = await asyncio.gather(*(cache.get() for _ in range(20)))
        for _ in range(20):
            await cache.get()
        assert cache.reads == 1
        assert all(g == together[0] for g in together)
        fresh = GaugeCache(server.store, ttl_s=0)
        await fresh.get()
        await fresh.get()
        assert fresh.reads == 2
