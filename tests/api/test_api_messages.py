"""/api/v1/app/{app}/msg: create, eventId dedup, Idempotency-Key, list filters, get."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    assert_list_shape,
    create_app_record,
    create_message_record,
    list_all,
)

MSG_ID = re.compile(r"^msg_[A-Za-z0-9]{27}$")


@pytest.fixture
async def app(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_app_record(client, uid="acme")


def msgs(app: dict[str, Any]) -> str:
    return f"/api/v1/app/{app['id']}/msg"


async def test_create_returns_202_with_svix_shape(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    body = {
        "eventType": "user.created",
        "eventId": "evt-1",
        "payload": {"id": 1, "nested": {"ok": True}},
        "channels": ["project.1"],
        "tags": ["t1"],
    }
    resp = await client.post(msgs(app), json=body)
    assert resp.status_code == 202, resp.text
    msg = resp.json()
    assert MSG_ID.match(msg["id"]), msg
    assert msg["eventType"] == "user.created" and msg["eventId"] == "evt-1"
    assert msg["payload"] == body["payload"]
    assert msg["channels"] == ["project.1"] and msg["tags"] == ["t1"]
    assert msg["timestamp"]


async def test_create_without_content_still_sends_a_payload_object(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    resp = await client.post(
        msgs(app), params={"with_content": "false"}, json={"eventType": "a.b", "payload": {"x": 1}}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["payload"] == {}


async def test_duplicate_event_id_is_409_and_one_message(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    first = await create_message_record(client, app["id"], eventId="evt-1")
    resp = await client.post(
        msgs(app), json={"eventType": "user.created", "payload": {}, "eventId": "evt-1"}
    )
    body = assert_error(resp, 409)
    assert first["id"] in str(body["detail"])
    assert [m["id"] for m in await list_all(client, msgs(app))] == [first["id"]]


async def test_same_event_id_in_another_app_is_fine(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    other = await create_app_record(client, uid="other")
    await create_message_record(client, app["id"], eventId="evt-1")
    await create_message_record(client, other["id"], eventId="evt-1")


async def test_idempotency_key_replays_the_first_response(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    body = {"eventType": "user.created", "payload": {"n": 1}}
    headers = {"Idempotency-Key": "key-1"}
    first = await client.post(msgs(app), json=body, headers=headers)
    second = await client.post(msgs(app), json=body, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert len(await list_all(client, msgs(app))) == 1
    third = await client.post(msgs(app), json=body, headers={"Idempotency-Key": "key-2"})
    assert third.status_code == 202 and third.json()["id"] != first.json()["id"]
    assert len(await list_all(client, msgs(app))) == 2


async def test_concurrent_requests_with_one_idempotency_key_publish_once(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    """The SDK retries a timed-out POST with the same key while the first may still run."""
    body = {"eventType": "user.created", "payload": {"n": 1}}
    headers = {"idempotency-key": "auto_same"}
    replies = await asyncio.gather(
        *(client.post(msgs(app), json=body, headers=headers) for _ in range(3))
    )
    published = {r.json()["id"] for r in replies if r.status_code == 202}
    assert len(published) == 1, [(r.status_code, r.text) for r in replies]
    assert len(await list_all(client, msgs(app))) == 1


async def test_idempotency_key_on_app_create(client: httpx.AsyncClient) -> None:
    headers = {"idempotency-key": "auto_5eeb5a2f-8fdd-4338-b475-98e02c30012c"}
    first = await client.post("/api/v1/app", json={"name": "x", "uid": "u"}, headers=headers)
    second = await client.post("/api/v1/app", json={"name": "x", "uid": "u"}, headers=headers)
    assert first.status_code == second.status_code == 201, second.text
    assert first.json() == second.json()
    assert len(await list_all(client, "/api/v1/app")) == 1


async def test_list_filters_by_event_types(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    a = await create_message_record(client, app["id"], eventType="a.one")
    b = await create_message_record(client, app["id"], eventType="b.two")
    await create_message_record(client, app["id"], eventType="c.three")
    want = {a["id"], b["id"]}
    joined = await list_all(client, msgs(app), event_types="a.one,b.two")
    assert {m["id"] for m in joined} == want
    resp = await client.get(msgs(app), params=[("event_types", "a.one"), ("event_types", "b.two")])
    assert resp.status_code == 200
    assert {m["id"] for m in resp.json()["data"]} == want
    only = await list_all(client, msgs(app), event_types="c.three")
    assert [m["eventType"] for m in only] == ["c.three"]
    assert_error(await client.get(msgs(app), params={"event_types": "bad name!"}), 422)


async def test_list_is_newest_first_and_paginates(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    ids = [(await create_message_record(client, app["id"]))["id"] for _ in range(3)]
    first = (await client.get(msgs(app), params={"limit": 2})).json()
    assert_list_shape(first)
    assert [m["id"] for m in first["data"]] == ids[::-1][:2] and first["done"] is False
    rest = (await client.get(msgs(app), params={"limit": 2, "iterator": first["iterator"]})).json()
    assert [m["id"] for m in rest["data"]] == ids[:1] and rest["done"] is True


def iso(dt: datetime, form: str) -> str:
    if form == "naive":
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat()
    if form == "z":
        return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return dt.isoformat()  # explicit +00:00 offset


@pytest.mark.parametrize("form", ["naive", "z", "offset"])
async def test_list_filters_by_before_and_after(
    client: httpx.AsyncClient, app: dict[str, Any], form: str
) -> None:
    old = await create_message_record(client, app["id"], eventId="old")
    await asyncio.sleep(0.05)
    new = await create_message_record(client, app["id"], eventId="new")
    mid = datetime.fromisoformat(old["timestamp"].replace("Z", "+00:00")) + timedelta(
        milliseconds=20
    )
    after = await list_all(client, msgs(app), after=iso(mid, form))
    before = await list_all(client, msgs(app), before=iso(mid, form))
    assert [m["id"] for m in after] == [new["id"]]
    assert [m["id"] for m in before] == [old["id"]]
    far = datetime.now(UTC) + timedelta(days=1)
    assert await list_all(client, msgs(app), after=iso(far, form)) == []
    assert_error(await client.get(msgs(app), params={"before": "yesterday"}), 422)


async def test_list_with_content_false(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    await create_message_record(client, app["id"], payload={"big": "data"})
    data = await list_all(client, msgs(app), with_content="false")
    assert data[0]["payload"] == {}
    assert (await list_all(client, msgs(app)))[0]["payload"] == {"big": "data"}


async def test_get_by_id_and_event_id(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    msg = await create_message_record(client, app["id"], eventId="evt-9", payload={"k": [1, 2]})
    by_id = await client.get(f"{msgs(app)}/{msg['id']}")
    assert by_id.status_code == 200 and by_id.json() == msg
    assert by_id.json()["payload"] == {"k": [1, 2]}
    by_event = await client.get("/api/v1/app/acme/msg/evt-9")
    assert by_event.status_code == 200 and by_event.json()["id"] == msg["id"]


async def test_get_unknown_is_404(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    assert_error(await client.get(f"{msgs(app)}/msg_missing"), 404)
    other = await create_app_record(client, uid="other")
    msg = await create_message_record(client, app["id"])
    assert_error(await client.get(f"{msgs(other)}/{msg['id']}"), 404)
    assert_error(await client.get("/api/v1/app/nope/msg"), 404)


async def test_create_for_unknown_app_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/app/nope/msg", json={"eventType": "a.b", "payload": {}})
    assert_error(resp, 404)
    assert await list_all(client, "/api/v1/app") == []


async def test_create_with_application_creates_the_app(client: httpx.AsyncClient) -> None:
    body = {"eventType": "a.b", "payload": {}, "application": {"name": "New", "uid": "new-app"}}
    resp = await client.post("/api/v1/app/new-app/msg", json=body)
    assert resp.status_code == 202, resp.text
    assert (await client.get("/api/v1/app/new-app")).json()["name"] == "New"
    assert len(await list_all(client, "/api/v1/app/new-app/msg")) == 1


async def test_application_without_uid_is_created_under_the_path_uid(
    client: httpx.AsyncClient,
) -> None:
    """SDK: ``message.create("auto-app", MessageIn(..., application=ApplicationIn(name=...)))``.

    The app made on the fly must be the one the path names, so a second message to the
    same path lands in it instead of creating yet another unreachable application.
    """
    body = {"eventType": "a.b", "payload": {}, "application": {"name": "Auto"}}
    for _ in range(2):
        resp = await client.post("/api/v1/app/auto-app/msg", json=body)
        assert resp.status_code == 202, resp.text
    apps = await list_all(client, "/api/v1/app")
    assert [(a["uid"], a["name"]) for a in apps] == [("auto-app", "Auto")]
    assert len(await list_all(client, "/api/v1/app/auto-app/msg")) == 2


async def test_list_filters_by_channel(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    one = await create_message_record(client, app["id"], channels=["ch.1", "ch.2"])
    await create_message_record(client, app["id"], channels=["ch.3"])
    await create_message_record(client, app["id"])
    assert [m["id"] for m in await list_all(client, msgs(app), channel="ch.2")] == [one["id"]]
    assert_error(await client.get(msgs(app), params={"channel": "bad channel"}), 422)


BAD_MESSAGES: list[dict[str, Any]] = [
    {"payload": {}},
    {"eventType": "a.b"},
    {"eventType": "bad name!", "payload": {}},
    {"eventType": "a.b", "payload": "notanobject"},
    {"eventType": "a.b", "payload": [1, 2]},
    {"eventType": "a.b", "payload": {}, "eventId": "bad id!"},
    {"eventType": "a.b", "payload": {}, "channels": []},
    {"eventType": "a.b", "payload": {}, "channels": "notalist"},
    {"eventType": "a.b", "payload": {}, "tags": ["t"] * 6},
    {"eventType": {"a": 1}, "payload": {}},
]


@pytest.mark.parametrize("body", BAD_MESSAGES)
async def test_bad_messages_are_422_and_not_written(
    client: httpx.AsyncClient, app: dict[str, Any], body: dict[str, Any]
) -> None:
    assert_error(await client.post(msgs(app), json=body), 422)
    assert await list_all(client, msgs(app)) == []


@pytest.mark.parametrize(
    "query", ["", "?with_content=false", "?with_content=False", "?with_content=0"]
)
async def test_publish_answers_the_same_on_every_path(
    client: httpx.AsyncClient, query: str
) -> None:
    """Plain publishes take the fast path, unusual queries the FastAPI route: same answers."""
    app = await create_app_record(client)
    resp = await client.post(
        f"/api/v1/app/{app['id']}/msg{query}", json={"eventType": "a.b", "payload": {"k": 1}}
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    keys = {"id", "eventType", "eventId", "payload", "channels", "tags", "timestamp", "deliverAt"}
    assert set(body) == keys
    assert body["payload"] == ({"k": 1} if query == "" else {})
    bad = await client.post(f"/api/v1/app/{app['id']}/msg{query}", json={"eventType": "a b"})
    assert bad.status_code == 422
    assert {e["loc"][0] for e in bad.json()["detail"]} == {"body"}
