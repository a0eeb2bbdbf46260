"""Operational webhooks end to end: the engine reports on itself to endpoints made through
the API, signed like any message.

The in-process API runs over the same store as the worker. The retry schedule has four
retries (five attempts): ``message.attempt.failing`` goes out after the fourth failed
attempt, and a message that keeps failing is exhausted at the fifth, the attempt that
also opens the breaker (threshold 5), so nothing waits for a cool-down.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import standardwebhooks
from engine_kit import LOOPBACK_OK, Engine, EngineFactory

from hookline.api import ApiContext, create_app
from hookline.testing import ReceivedRequest

TOKEN = "operational-test-token-0123456789"
OPS = "/api/v1/operational-webhook/endpoint"


def api(e: Engine) -> httpx.AsyncClient:
    app = create_app(ApiContext(store=e.store, admin_token=TOKEN, address_policy=LOOPBACK_OK))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://hookline.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def verified(request: ReceivedRequest, *secrets: str) -> dict[str, Any]:
    """The event, after checking it verifies with each secret and has Svix's shape."""
    for secret in secrets:
        standardwebhooks.Webhook(secret).verify(request.body, dict(request.headers))
    event: dict[str, Any] = request.json()
    assert set(event) == {"type", "timestamp", "data"}, event
    sent_at = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    assert request.webhook_id and request.webhook_id.startswith("msg_")
    return event


async def op_event(
    e: Engine, path: str, event_type: str, secrets: tuple[str, ...], **data: Any
) -> dict[str, Any]:
    """Wait for an event of ``event_type`` whose data includes ``data``; verify it."""

    def matching() -> list[ReceivedRequest]:
        found = []
        for r in e.receiver.requests(path):
            body = r.json()
            if body["type"] == event_type and data.items() <= body["data"].items():
                found.append(r)
        return found

    await e.receiver.wait_until(lambda: bool(matching()), timeout=15)
    (request,) = matching()
    return verified(request, *secrets)


async def create_operational(
    client: httpx.AsyncClient, e: Engine, path: str, **fields: Any
) -> tuple[str, str]:
    resp = await client.post(OPS, json={"url": e.receiver.url(path), **fields})
    assert resp.status_code == 201, resp.text
    ep_id = resp.json()["id"]
    secret = (await client.get(f"{OPS}/{ep_id}/secret")).json()["key"]
    return ep_id, secret


async def test_every_operational_event_arrives_signed(engine: EngineFactory) -> None:
    e = await engine(schedule=(0.05,) * 4)
    app_id = e.app.id
    async with api(e) as client:
        ops_id, secret = await create_operational(client, e, "/ops")
        _, narrow_secret = await create_operational(
            client, e, "/ops-disabled", eventTypes=["endpoint.disabled"]
        )
        resp = await client.put(f"{OPS}/{ops_id}/headers", json={"headers": {"X-Ops": "on"}})
        assert resp.status_code == 204

        # endpoint.created / updated / deleted, each from an API call
        sub = (
            await client.post(
                f"/api/v1/app/{app_id}/endpoint", json={"url": e.receiver.url("/sub")}
            )
        ).json()
        created = await op_event(e, "/ops", "endpoint.created", (secret,), endpointId=sub["id"])
        assert created["data"] == {
            "appId": app_id,
            "appUid": None,
            "endpointId": sub["id"],
            "endpointUid": None,
        }
        patched = await client.patch(
            f"/api/v1/app/{app_id}/endpoint/{sub['id']}", json={"description": "new"}
        )
        assert patched.status_code == 200
        await op_event(e, "/ops", "endpoint.updated", (secret,), endpointId=sub["id"])
        assert (
            await client.delete(f"/api/v1/app/{app_id}/endpoint/{sub['id']}")
        ).status_code == 204
        await op_event(e, "/ops", "endpoint.deleted", (secret,), endpointId=sub["id"])

        # a rotated secret: the old key keeps signing beside the new one
        rotated = await client.post(f"{OPS}/{ops_id}/secret/rotate", json={})
        assert rotated.status_code == 204
        new_secret = (await client.get(f"{OPS}/{ops_id}/secret")).json()["key"]
        assert new_secret != secret
        both = (secret, new_secret)

    # endpoint.disabled: the subscriber answers 410 Gone
    gone = await e.endpoint("/gone", event_types=["gone.event"])
    e.receiver.script("/gone", default=410)
    await e.publish(event_type="gone.event")
    disabled = await op_event(e, "/ops", "endpoint.disabled", both, endpointId=gone.id)
    assert disabled["data"]["appId"] == app_id and disabled["data"]["failSince"]
    await op_event(e, "/ops-disabled", "endpoint.disabled", (narrow_secret,), endpointId=gone.id)

    # message.attempt.failing after four failures, then .recovered when the fifth succeeds
    flaky = await e.endpoint("/flaky", event_types=["flaky.event"])
    e.receiver.script("/flaky", [500, 500, 500, 500], default=200)
    msg = await e.publish(event_type="flaky.event")
    failing = await op_event(
        e, "/ops", "message.attempt.failing", both, msgId=msg.id, endpointId=flaky.id
    )
    assert failing["data"]["lastAttempt"]["responseStatusCode"] == 500
    recovered = await op_event(e, "/ops", "message.attempt.recovered", both, msgId=msg.id)
    assert recovered["data"]["lastAttempt"]["responseStatusCode"] == 200
    assert recovered["data"]["endpointId"] == flaky.id

    # message.attempt.exhausted: the schedule runs out
    dead = await e.endpoint("/dead", event_types=["dead.event"])
    e.receiver.script("/dead", default=500)
    doomed = await e.publish(event_type="dead.event")
    exhausted = await op_event(
        e, "/ops", "message.attempt.exhausted", both, msgId=doomed.id, endpointId=dead.id
    )
    assert exhausted["data"]["lastAttempt"]["responseStatusCode"] == 500
    assert len(e.receiver.requests("/dead")) == 5
    # a 410 reports the endpoint disabled, not the message's schedule exhausted
    gone_events = [r.json() for r in e.receiver.requests("/ops")]
    assert not [
        ev
        for ev in gone_events
        if ev["type"] == "message.attempt.exhausted" and ev["data"]["endpointId"] == gone.id
    ]

    # the filtered operational endpoint got its one type only; custom headers went along
    assert {r.json()["type"] for r in e.receiver.requests("/ops-disabled")} == {"endpoint.disabled"}
    assert all(r.headers.get("X-Ops") == "on" for r in e.receiver.requests("/ops"))


async def test_a_deleted_operational_endpoint_gets_nothing_more(engine: EngineFactory) -> None:
    e = await engine()
    async with api(e) as client:
        ops_id, secret = await create_operational(client, e, "/ops")
        first = await e.endpoint("/one")
        await op_event(e, "/ops", "endpoint.created", (secret,), endpointId=first.id)
        assert (await client.delete(f"{OPS}/{ops_id}")).status_code == 204
        await e.endpoint("/two")
        disabled_later = await e.endpoint("/three", event_types=["x"])
        e.receiver.script("/three", default=410)
        await e.publish(event_type="x")
        await e.receiver.wait_for(1, "/three")
        await e.until(lambda: _disabled(e, disabled_later.id))
    assert [r.json()["type"] for r in e.receiver.requests("/ops")] == ["endpoint.created"]


async def _disabled(e: Engine, endpoint_id: str) -> bool:
    return (await e.store.get_endpoint(e.app.id, endpoint_id)).disabled
