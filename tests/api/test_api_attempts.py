"""Attempt lists and resend, without a worker: lists are empty but well-formed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    assert_list_shape,
    create_app_record,
    create_endpoint_record,
    create_message_record,
)

from hookline.models import DeliveryStatus, TriggerType
from hookline.store.base import Store


@pytest.fixture
async def setup(client: httpx.AsyncClient) -> dict[str, Any]:
    app = await create_app_record(client, uid="acme")
    ep = await create_endpoint_record(client, app["id"], uid="hook")
    msg = await create_message_record(client, app["id"], eventId="evt-1")
    return {"app": app, "ep": ep, "msg": msg, "base": f"/api/v1/app/{app['id']}"}


async def test_list_by_msg_is_empty_and_well_formed(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    base, msg = setup["base"], setup["msg"]
    for ref in (msg["id"], "evt-1"):
        resp = await client.get(f"{base}/attempt/msg/{ref}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert_list_shape(body)
        assert body["data"] == [] and body["done"] is True
    svix_query = {
        "limit": 10,
        "status": 1,
        "event_types": "a.b,c.d",
        "channel": "project.1",
        "before": "2030-01-01T00:00:00",
        "after": "2020-01-01T00:00:00Z",
        "with_content": "false",
        "expanded_statuses": "true",
        "endpoint_id": "hook",
    }
    resp = await client.get(f"{base}/attempt/msg/{msg['id']}", params=svix_query)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []


async def test_list_by_endpoint_is_empty_and_well_formed(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    base, ep = setup["base"], setup["ep"]
    for ref in (ep["id"], "hook"):
        resp = await client.get(f"{base}/attempt/endpoint/{ref}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert_list_shape(body)
        assert body["data"] == [] and body["done"] is True
    resp = await client.get(
        f"{base}/attempt/endpoint/{ep['id']}",
        params={"status": 0, "with_content": "false", "expanded_statuses": "true"},
    )
    assert resp.status_code == 200, resp.text


async def test_attempt_lists_404_for_unknown_refs(
    client: httpx.AsyncClient, setup: dict[str, Any]
) -> None:
    base, msg = setup["base"], setup["msg"]
    assert_error(await client.get(f"{base}/attempt/msg/msg_missing"), 404)
    assert_error(await client.get(f"{base}/attempt/endpoint/ep_missing"), 404)
    assert_error(await client.get(f"/api/v1/app/nope/attempt/msg/{msg['id']}"), 404)
    assert_error(
        await client.get(f"{base}/attempt/msg/{msg['id']}", params={"endpoint_id": "ep_x"}), 404
    )


@pytest.mark.parametrize("status", ["-1", "5", "pending"])
async def test_attempt_list_bad_status_is_422(
    client: httpx.AsyncClient, setup: dict[str, Any], status: str
) -> None:
    base, msg = setup["base"], setup["msg"]
    resp = await client.get(f"{base}/attempt/msg/{msg['id']}", params={"status": status})
    assert_error(resp, 422)


@pytest.mark.parametrize("status", [0, 1, 2, 3, 4])
async def test_attempt_lists_accept_every_svix_message_status(
    client: httpx.AsyncClient, setup: dict[str, Any], status: int
) -> None:
    """MessageStatus is 0..4 (4 = Canceled) in Svix's spec; the SDK may send any of them."""
    base, msg, ep = setup["base"], setup["msg"], setup["ep"]
    for path in (f"{base}/attempt/msg/{msg['id']}", f"{base}/attempt/endpoint/{ep['id']}"):
        resp = await client.get(path, params={"status": status})
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["data"] == []


async def test_get_unknown_attempt_is_404(client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    base, msg = setup["base"], setup["msg"]
    resp = await client.get(f"{base}/msg/{msg['id']}/attempt/atmpt_missing")
    assert_error(resp, 404)


async def test_resend_queues_a_manual_delivery(
    client: httpx.AsyncClient, store: Store, setup: dict[str, Any]
) -> None:
    app, ep, msg, base = setup["app"], setup["ep"], setup["msg"], setup["base"]
    before = await store.list_deliveries(app["id"], msg["id"])
    assert len(before) == 1  # the fan-out delivery of the original publish
    resp = await client.post(f"{base}/msg/{msg['id']}/endpoint/{ep['id']}/resend")
    assert resp.status_code == 202, resp.text
    assert resp.json() == {}
    after = await store.list_deliveries(app["id"], msg["id"])
    assert len(after) == 2
    new = [d for d in after if d.id not in {b.id for b in before}]
    assert len(new) == 1
    assert new[0].endpoint_id == ep["id"]
    assert new[0].status == DeliveryStatus.PENDING
    assert new[0].trigger == TriggerType.MANUAL
    assert new[0].next_attempt_at is not None


async def test_resend_by_event_id_and_uid(
    client: httpx.AsyncClient, store: Store, setup: dict[str, Any]
) -> None:
    resp = await client.post("/api/v1/app/acme/msg/evt-1/endpoint/hook/resend")
    assert resp.status_code == 202, resp.text
    deliveries = await store.list_deliveries(setup["app"]["id"], setup["msg"]["id"])
    assert len(deliveries) == 2


async def test_resend_unknown_refs_are_404_and_queue_nothing(
    client: httpx.AsyncClient, store: Store, setup: dict[str, Any]
) -> None:
    app, ep, msg, base = setup["app"], setup["ep"], setup["msg"], setup["base"]
    assert_error(await client.post(f"{base}/msg/msg_missing/endpoint/{ep['id']}/resend"), 404)
    assert_error(await client.post(f"{base}/msg/{msg['id']}/endpoint/ep_missing/resend"), 404)
    assert_error(
        await client.post(f"/api/v1/app/nope/msg/{msg['id']}/endpoint/{ep['id']}/resend"), 404
    )
    assert len(await store.list_deliveries(app["id"], msg["id"])) == 1


async def test_resend_with_idempotency_key_queues_once(
    client: httpx.AsyncClient, store: Store, setup: dict[str, Any]
) -> None:
    app, ep, msg, base = setup["app"], setup["ep"], setup["msg"], setup["base"]
    url = f"{base}/msg/{msg['id']}/endpoint/{ep['id']}/resend"
    for _ in range(2):
        resp = await client.post(url, headers={"idempotency-key": "resend-1"})
        assert resp.status_code == 202 and resp.json() == {}
    assert len(await store.list_deliveries(app["id"], msg["id"])) == 2
