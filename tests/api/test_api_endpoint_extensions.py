"""hookline's endpoint fields beyond Svix: maxInFlight, fifo, filter, and /stats."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import assert_error, create_app_record, create_endpoint_record, list_all

URL = "https://example.com/hook"


async def test_extensions_round_trip(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    created = await client.post(
        base,
        json={"url": URL, "maxInFlight": 3, "fifo": True, "filter": "data.total >= `100`"},
    )
    assert created.status_code == 201, created.text
    ep = created.json()
    assert (ep["maxInFlight"], ep["fifo"], ep["filter"]) == (3, True, "data.total >= `100`")
    patched = await client.patch(f"{base}/{ep['id']}", json={"fifo": False, "filter": None})
    assert patched.status_code == 200
    assert (patched.json()["fifo"], patched.json()["filter"]) == (False, None)
    assert patched.json()["maxInFlight"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {"filter": "data.total >="},
        {"filter": ""},
        {"maxInFlight": 0},
        {"maxInFlight": 100000},
        {"fifo": "sometimes"},
    ],
)
async def test_bad_extension_values_are_422(client: httpx.AsyncClient, body: dict) -> None:  # type: ignore[type-arg]
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    assert_error(await client.post(base, json={"url": URL, **body}), 422)
    assert await list_all(client, base) == []


async def test_stats_of_a_new_endpoint(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    ep = await create_endpoint_record(client, app["id"])
    await client.post(
        f"/api/v1/app/{app['id']}/msg", json={"eventType": "a.b", "payload": {"x": 1}}
    )
    resp = await client.get(f"/api/v1/app/{app['id']}/endpoint/{ep['id']}/stats")
    assert resp.status_code == 200, resp.text
    stats = resp.json()
    assert (stats["pending"], stats["success"], stats["fail"]) == (1, 0, 0)
    assert stats["breaker"] == {"state": "closed", "failureStreak": 0, "openUntil": None}
    assert stats["lastHour"] == {"attempts": 0, "successes": 0, "rate": None}


async def test_stats_of_unknown_endpoint_is_404(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    assert_error(await client.get(f"/api/v1/app/{app['id']}/endpoint/ep_nope/stats"), 404)
