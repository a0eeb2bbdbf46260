"""Endpoints that pass on chosen headers of the request a message was received as."""

from __future__ import annotations

import standardwebhooks
from engine_kit import EngineFactory, now_ms

from hookline import ids
from hookline.models import Message

RECEIVED = {
    "x-github-event": "push",
    "x-request-id": "from-the-sender",
    "x-not-listed": "stays-here",
    "webhook-signature": "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==",
    "webhook-id": "msg_forged",
    "host": "provider.example",
}


async def publish_received(e, headers: dict[str, str] | None) -> Message:  # type: ignore[no-untyped-def]
    t = now_ms()
    msg = Message(
        id=ids.new_id("msg"),
        app_id=e.app.id,
        event_type="push",
        payload=b'{"ref":"refs/heads/main"}',
        created_at=t,
        headers=headers,
    )
    return (await e.store.publish(msg, t)).message


async def test_listed_headers_are_forwarded_and_ours_cannot_be_replaced(
    engine: EngineFactory,
) -> None:
    e = await engine()
    ep = await e.endpoint(
        "/fwd",
        forward_headers=["X-GitHub-Event", "webhook-signature", "webhook-id", "host"],
    )
    msg = await publish_received(e, RECEIVED)
    stored = await e.store.get_message(e.app.id, msg.id)
    assert stored.headers == RECEIVED
    [request] = await e.receiver.wait_for(1, "/fwd")
    assert request.headers["x-github-event"] == "push"
    assert "x-not-listed" not in request.headers
    assert "x-request-id" not in request.headers
    assert request.headers["webhook-id"] == msg.id
    assert request.headers["host"] != "provider.example"
    assert request.headers.getall("webhook-signature") == [request.headers["webhook-signature"]]
    assert request.headers["webhook-signature"] != RECEIVED["webhook-signature"]
    standardwebhooks.Webhook(ep.secret).verify(request.body.decode(), dict(request.headers))


async def test_the_endpoints_own_header_wins_over_a_forwarded_one(engine: EngineFactory) -> None:
    e = await engine()
    await e.endpoint(
        "/own",
        forward_headers=["x-request-id", "x-github-event"],
        headers={"X-Request-Id": "set-on-the-endpoint"},
    )
    await publish_received(e, RECEIVED)
    [request] = await e.receiver.wait_for(1, "/own")
    assert request.headers.getall("x-request-id") == ["set-on-the-endpoint"]
    assert request.headers["x-github-event"] == "push"


async def test_nothing_is_forwarded_without_a_list_or_without_headers(
    engine: EngineFactory,
) -> None:
    e = await engine()
    await e.endpoint("/plain")
    await e.endpoint("/wants", forward_headers=["x-github-event"])
    await publish_received(e, RECEIVED)
    await publish_received(e, None)
    plain = await e.receiver.wait_for(2, "/plain")
    wants = await e.receiver.wait_for(2, "/wants")
    assert all("x-github-event" not in r.headers for r in plain)
    assert sorted(r.headers.get("x-github-event", "-") for r in wants) == ["-", "push"]


async def test_an_endpoints_own_headers_cannot_replace_the_signature_either(
    engine: EngineFactory,
) -> None:
    """Custom headers are stored as given (the store does not judge them); the sender
    drops the ones hookline sets itself, so a signature stays ours and verifies."""
    e = await engine()
    ep = await e.endpoint(
        "/custom",
        headers={"Webhook-Signature": "v1,Zm9yZ2Vk", "Host": "elsewhere", "X-Team": "core"},
    )
    msg = await publish_received(e, None)
    [request] = await e.receiver.wait_for(1, "/custom")
    assert request.headers["x-team"] == "core"
    assert request.headers["host"] != "elsewhere"
    assert request.headers.getall("webhook-signature") == [request.headers["webhook-signature"]]
    assert request.headers["webhook-id"] == msg.id
    standardwebhooks.Webhook(ep.secret).verify(request.body.decode(), dict(request.headers))
