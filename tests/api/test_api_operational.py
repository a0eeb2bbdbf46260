"""/api/v1/operational-webhook/endpoint in process: shapes per the svix SDK, and isolation.

Delivery of operational events is tested end to end in tests/delivery.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    assert_list_shape,
    create_app_record,
    new_secret,
)
from svix.models import (
    ListResponseOperationalWebhookEndpointOut,
    OperationalWebhookEndpointHeadersOut,
    OperationalWebhookEndpointOut,
    OperationalWebhookEndpointSecretOut,
)

from hookline.models import OPERATIONAL_APP_ID
from hookline.store.base import Store

OPS = "/api/v1/operational-webhook/endpoint"


async def create_op(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    resp = await client.post(OPS, json={"url": "https://example.com/ops", **fields})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    OperationalWebhookEndpointOut.model_validate(out)
    return out


async def test_create_get_list_delete(client: httpx.AsyncClient) -> None:
    made = await create_op(
        client,
        description="pager",
        eventTypes=["endpoint.disabled", "message.attempt.exhausted"],
        uid="pager",
        metadata={"team": "ops"},
        throttleRate=10,
    )
    assert made["id"].startswith("ep_") and len(made["id"]) == 30
    assert made["eventTypes"] == ["endpoint.disabled", "message.attempt.exhausted"]
    assert made["description"] == "pager" and made["metadata"] == {"team": "ops"}
    assert made["disabled"] is False and made["throttleRate"] == 10
    by_uid = (await client.get(f"{OPS}/pager")).json()
    assert by_uid == made
    listed = (await client.get(OPS)).json()
    assert_list_shape(listed)
    ListResponseOperationalWebhookEndpointOut.model_validate(listed)
    assert [e["id"] for e in listed["data"]] == [made["id"]]

    assert (await client.delete(f"{OPS}/{made['id']}")).status_code == 204
    assert_error(await client.get(f"{OPS}/{made['id']}"), 404)
    assert_error(await client.delete(f"{OPS}/{made['id']}"), 404)


async def test_put_updates_or_creates(client: httpx.AsyncClient) -> None:
    made = await create_op(client, description="old", eventTypes=["endpoint.created"])
    resp = await client.put(
        f"{OPS}/{made['id']}", json={"url": "https://example.com/new", "description": "new"}
    )
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    OperationalWebhookEndpointOut.model_validate(updated)
    assert updated["url"] == "https://example.com/new" and updated["description"] == "new"
    assert updated.get("eventTypes") is None  # PUT replaces: no filter now

    created = await client.put(f"{OPS}/pager-2", json={"url": "https://example.com/p"})
    assert created.status_code == 201, created.text
    assert created.json()["uid"] == "pager-2"
    assert (await client.get(f"{OPS}/pager-2")).json()["id"] == created.json()["id"]


async def test_secret_rotation_keeps_the_old_key_for_the_grace_period(
    client: httpx.AsyncClient, store: Store
) -> None:
    chosen = new_secret()
    made = await create_op(client, secret=chosen)
    got = (await client.get(f"{OPS}/{made['id']}/secret")).json()
    OperationalWebhookEndpointSecretOut.model_validate(got)
    assert got == {"key": chosen}

    rotated = await client.post(f"{OPS}/{made['id']}/secret/rotate", json={})
    assert rotated.status_code == 204, rotated.text
    new_key = (await client.get(f"{OPS}/{made['id']}/secret")).json()["key"]
    assert new_key != chosen and new_key.startswith("whsec_")
    ep = await store.get_endpoint(OPERATIONAL_APP_ID, made["id"])
    assert ep.signing_keys(int(time.time() * 1000)) == [new_key, chosen]

    explicit = new_secret()
    resp = await client.post(
        f"{OPS}/{made['id']}/secret/rotate", json={"key": explicit, "gracePeriodSeconds": 0}
    )
    assert resp.status_code == 204
    ep = await store.get_endpoint(OPERATIONAL_APP_ID, made["id"])
    # a zero grace period retires the replaced key at once; the earlier one still runs
    assert ep.signing_keys(int(time.time() * 1000)) == [explicit, chosen]


async def test_headers_round_trip(client: httpx.AsyncClient) -> None:
    made = await create_op(client, headers={"X-Team": "ops"})
    got = (await client.get(f"{OPS}/{made['id']}/headers")).json()
    OperationalWebhookEndpointHeadersOut.model_validate(got)
    assert got == {"headers": {"X-Team": "ops"}, "sensitive": []}
    resp = await client.put(f"{OPS}/{made['id']}/headers", json={"headers": {"X-Pager": "1"}})
    assert resp.status_code == 204
    got = (await client.get(f"{OPS}/{made['id']}/headers")).json()
    assert got["headers"] == {"X-Pager": "1"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "ftp://example.com"},
        {"url": "not a url"},
        {"url": "https://example.com", "secret": "short"},
        {"url": "https://example.com", "eventTypes": []},
        {"url": "https://example.com", "throttleRate": 0},
        {"url": "https://example.com", "headers": {"Bad Name": "x"}},
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_error(await client.post(OPS, json=body), 422)


async def test_operational_endpoints_stay_apart_from_applications(
    client: httpx.AsyncClient,
) -> None:
    """Neither API reaches the other's endpoints."""
    op = await create_op(client)
    app = await create_app_record(client)
    assert_error(await client.get(f"/api/v1/app/{OPERATIONAL_APP_ID}/endpoint"), 404)
    assert_error(await client.get(f"/api/v1/app/{app['id']}/endpoint/{op['id']}"), 404)
    resp = await client.post(
        f"/api/v1/app/{app['id']}/endpoint", json={"url": "https://example.com/app"}
    )
    assert_error(await client.get(f"{OPS}/{resp.json()['id']}"), 404)
    assert [e["id"] for e in (await client.get(OPS)).json()["data"]] == [op["id"]]


async def test_needs_the_token(anon: httpx.AsyncClient) -> None:
    assert_error(await anon.get(OPS), 401)
    assert_error(await anon.post(OPS, json={"url": "https://example.com"}), 401)
