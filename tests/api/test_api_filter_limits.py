"""Payload filters past the caps are a 422 on every route that saves an endpoint."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import assert_error, create_app_record, create_endpoint_record

from hookline.models import OPERATIONAL_APP_ID
from hookline.store.base import Store

URL = "https://example.com/hook"
TOO_LONG = "a == '" + "x" * 994 + "'"  # 1,001 characters, a valid expression
TOO_DEEP = [
    "(" * 500 + "a" + ")" * 500,  # the report: a RecursionError in the parser, then a 500
    "!" * 500 + "a",
    "[" * 250 + "a" + "]" * 250,
]
REFUSED = [TOO_LONG, *TOO_DEEP]


@pytest.mark.parametrize("expression", REFUSED)
async def test_create_refuses_and_writes_nothing(
    client: httpx.AsyncClient, expression: str
) -> None:
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    body = assert_error(await client.post(base, json={"url": URL, "filter": expression}), 422)
    assert body["detail"][0]["loc"] == ["body", "filter"], body
    upsert = await client.put(f"{base}/new-uid", json={"url": URL, "filter": expression})
    assert_error(upsert, 422)
    assert (await client.get(base)).json()["data"] == []


@pytest.mark.parametrize("expression", REFUSED)
async def test_update_refuses_and_keeps_the_old_filter(
    client: httpx.AsyncClient, expression: str
) -> None:
    app = await create_app_record(client)
    ep = await create_endpoint_record(client, app["id"], url=URL, filter="data.ok")
    path = f"/api/v1/app/{app['id']}/endpoint/{ep['id']}"
    assert_error(await client.put(path, json={"url": URL, "filter": expression}), 422)
    assert_error(await client.patch(path, json={"filter": expression}), 422)
    assert (await client.get(path)).json()["filter"] == "data.ok"


@pytest.mark.parametrize("expression", TOO_DEEP)
async def test_operational_routes_never_fail_on_a_filter(
    client: httpx.AsyncClient, store: Store, expression: str
) -> None:
    """Operational endpoints have no payload filter (Svix's schema has none): the field is
    ignored like any unknown field, and nothing reaches the parser."""
    base = "/api/v1/operational-webhook/endpoint"
    created = await client.post(base, json={"url": URL, "filter": expression})
    assert created.status_code == 201, created.text
    upsert = await client.put(f"{base}/ops-uid", json={"url": URL, "filter": expression})
    assert upsert.status_code == 201, upsert.text
    replaced = await client.put(
        f"{base}/{created.json()['id']}", json={"url": URL, "filter": expression}
    )
    assert replaced.status_code == 200, replaced.text
    for ep_id in (created.json()["id"], upsert.json()["id"]):
        assert (await store.get_endpoint(OPERATIONAL_APP_ID, ep_id)).payload_filter is None
