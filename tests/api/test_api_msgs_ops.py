"""The raw HTTP shapes of scheduled sends, expunge, the attempted lists, the attempt and
message filters, precheck and the health ping: the app on a real store, attempts recorded
through the store's own claim and record verbs (no worker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
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

from hookline.api import message_views
from hookline.breaker import HealthPolicy
from hookline.models import ErrorKind, TaskStatus
from hookline.store.base import Store
from hookline.testing.results import final_result


def now_ms() -> int:
    return int(time.time() * 1000)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def deliver(store: Store, status: int = 200, body: str = "") -> list[str]:
    """Send nothing: claim what is due and record one final answer for each."""
    at = now_ms()
    ready = await store.ready_endpoints(at, limit=100)
    tasks = await store.claim("w", [(r, 100) for r in ready], at, 60_000, 10_000)
    results = []
    for task in tasks:
        kind = ErrorKind.CONNECTION_REFUSED if status == 0 else None
        result = final_result(
            task,
            ok=200 <= status < 300,
            duration_ms=3,
            at_ms=at,
            response_status=status,
            error_kind=kind,
        )
        result.attempt.response_body = body
        results.append(result)
    assert await store.record_results("w", results, at, HealthPolicy()) == 0
    return [r.attempt.id for r in results]


@pytest.fixture
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    app = await create_app_record(client, uid="acme")
    other = await create_app_record(client, uid="other")
    ep = await create_endpoint_record(client, app["id"], uid="hook")
    return {"app": app, "other": other, "ep": ep, "base": "/api/v1/app/acme"}


async def test_health_ping_and_head_need_no_token(anon: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/health/ping"),
        ("HEAD", "/api/v1/health/ping"),
        ("HEAD", "/api/v1/health"),
        ("GET", "/api/v1/health"),
    ]:
        resp = await anon.request(method, path)
        assert resp.status_code == 204, (method, path, resp.text)
    assert_error(await anon.get("/api/v1/app"), 401)


@pytest.mark.parametrize("query", ["", "?with_content=true&n=1"])  # fast path, FastAPI route
async def test_deliver_at_is_kept_returned_and_is_the_due_time(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any], query: str
) -> None:
    base, app_id = world["base"], world["app"]["id"]
    at = (now_ms() // 1000 + 3600) * 1000
    resp = await client.post(
        f"{base}/msg{query}",
        json={"eventType": "a.b", "payload": {"k": 1}, "deliverAt": rfc3339(at)},
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert datetime.fromisoformat(body["deliverAt"]).timestamp() * 1000 == at
    got = (await client.get(f"{base}/msg/{body['id']}")).json()
    assert got["deliverAt"] == body["deliverAt"]
    assert [d.next_attempt_at for d in await store.list_deliveries(app_id, body["id"])] == [at]
    plain = await create_message_record(client, app_id)
    assert plain["deliverAt"] is None
    past = await create_message_record(client, app_id, deliverAt="2020-01-01T00:00:00Z")
    [due] = [d.next_attempt_at for d in await store.list_deliveries(app_id, past["id"])]
    assert due is not None and due >= now_ms() - 60_000  # now, not in 2020


async def test_deliver_at_past_svix_limit_or_malformed_is_422_and_writes_nothing(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    base = world["base"]
    too_far = rfc3339(now_ms() + int(timedelta(hours=24, minutes=5).total_seconds() * 1000))
    for value in (too_far, "tomorrow", "2026-13-01T00:00:00Z"):
        resp = await client.post(
            f"{base}/msg", json={"eventType": "a.b", "payload": {}, "deliverAt": value}
        )
        body = assert_error(resp, 422)
        assert body["detail"][0]["loc"][:2] == ["body", "deliverAt"], body
    assert (await client.get(f"{base}/msg")).json()["data"] == []
    ok = rfc3339(now_ms() + int(timedelta(hours=23).total_seconds() * 1000))
    resp = await client.post(
        f"{base}/msg", json={"eventType": "a.b", "payload": {}, "deliverAt": ok}
    )
    assert resp.status_code == 202, resp.text


async def test_expunge_message_content(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any]
) -> None:
    base = world["base"]
    msg = await create_message_record(client, "acme", payload={"card": "4242"}, eventId="e1")
    foreign = await create_message_record(client, "other", payload={"card": "1111"})
    for ref in (msg["id"], "e1"):
        resp = await client.delete(f"{base}/msg/{ref}/content")
        assert resp.status_code == 204 and resp.content == b"", resp.text
    got = (await client.get(f"{base}/msg/{msg['id']}")).json()
    assert got["payload"] == {} and got["eventType"] == "user.created"
    assert_error(await client.delete(f"{base}/msg/{foreign['id']}/content"), 404)
    assert (await store.get_message(world["other"]["id"], foreign["id"])).payload is not None
    assert_error(await client.delete(f"{base}/msg/msg_missing/content"), 404)
    assert_error(await client.delete(f"{base}/msg/bad%20id/content"), 422)
    resend = f"{base}/msg/{msg['id']}/endpoint/hook/resend"
    assert_error(await client.post(resend), 404)  # nothing left to resend


async def test_expunge_attempt_content(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any]
) -> None:
    base = world["base"]
    msg = await create_message_record(client, "acme")
    [attempt_id] = await deliver(store, 200, body="secret answer")
    path = f"{base}/msg/{msg['id']}/attempt/{attempt_id}"
    assert (await client.get(path)).json()["response"] == "secret answer"
    for _ in range(2):
        resp = await client.delete(path + "/content")
        assert resp.status_code == 204, resp.text
    got = (await client.get(path)).json()
    assert got["response"] == "" and got["responseStatusCode"] == 200
    assert_error(await client.delete(f"{base}/msg/{msg['id']}/attempt/atmpt_x/content"), 404)
    assert_error(await client.delete(f"/api/v1/app/other/msg/{msg['id']}/attempt/x/content"), 404)


async def test_bulk_expunge(client: httpx.AsyncClient, store: Store, world: dict[str, Any]) -> None:
    base = world["base"]
    a = await create_message_record(client, "acme", eventId="ea")
    b = await create_message_record(client, "acme")
    foreign = await create_message_record(client, "other")
    resp = await client.post(
        f"{base}/msg/bulk-expunge", json={"ids": ["ea", b["id"], foreign["id"], "nope"]}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "results": {
            "ea": "expunged",
            b["id"]: "expunged",
            foreign["id"]: "not-found",
            "nope": "not-found",
        }
    }
    assert (await store.get_message(world["app"]["id"], a["id"])).payload is None
    assert (await store.get_message(world["other"]["id"], foreign["id"])).payload is not None
    assert (await client.post(f"{base}/msg/bulk-expunge", json={})).json() == {"results": {}}
    for bad in ({"ids": "msg_1"}, {"ids": ["a b"]}, {"ids": [f"m{i}" for i in range(1001)]}):
        assert_error(await client.post(f"{base}/msg/bulk-expunge", json=bad), 422)


async def test_expunge_all_contents_is_a_background_task(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any]
) -> None:
    base = world["base"]
    for _ in range(3):
        await create_message_record(client, "acme")
    foreign = await create_message_record(client, "other")
    resp = await client.post(f"{base}/msg/expunge-all-contents")
    assert resp.status_code == 202, resp.text
    task = resp.json()
    assert set(task) == {"id", "status", "task", "updatedAt"}
    assert (task["status"], task["task"]) == ("running", "application.purge_content")
    while (await store.advance_task(task["id"], now_ms(), 2)).status is TaskStatus.RUNNING:
        pass
    got = (await client.get(f"/api/v1/background-task/{task['id']}")).json()
    assert got["status"] == "finished" and got["data"]["messagesPurged"] == 3, got
    listed = (await client.get(f"{base}/msg")).json()["data"]
    assert [m["payload"] for m in listed] == [{}, {}, {}]
    assert (await client.get(f"/api/v1/app/other/msg/{foreign['id']}")).json()["payload"] != {}
    assert_error(await client.post("/api/v1/app/nope/msg/expunge-all-contents"), 404)


async def test_attempted_messages_and_destinations(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any]
) -> None:
    base = world["base"]
    m1 = await create_message_record(client, "acme", tags=["blue"], payload={"n": 1})
    await deliver(store, 200)
    m2 = await create_message_record(client, "acme", channels=["eu"])
    resp = await client.get(f"{base}/endpoint/hook/msg")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_list_shape(body)
    assert [(m["id"], m["status"], m["statusText"]) for m in body["data"]] == [
        (m2["id"], 1, "pending"),
        (m1["id"], 0, "success"),
    ]
    assert body["data"][0]["nextAttempt"] is not None and body["data"][1]["nextAttempt"] is None
    assert body["data"][1]["payload"] == {"n": 1} and body["data"][1]["tags"] == ["blue"]

    async def ids(**params: Any) -> list[str]:
        resp = await client.get(f"{base}/endpoint/hook/msg", params=params)
        assert resp.status_code == 200, resp.text
        return [m["id"] for m in resp.json()["data"]]

    assert await ids(tag="blue") == [m1["id"]]
    assert await ids(channel="eu") == [m2["id"]]
    assert await ids(status=0) == [m1["id"]]
    assert await ids(status=2) == []
    assert await ids(event_types="user.created,x.y") == [m2["id"], m1["id"]]
    assert await ids(event_types="x.y") == []
    nocontent = await client.get(f"{base}/endpoint/hook/msg", params={"with_content": "false"})
    assert [m["payload"] for m in nocontent.json()["data"]] == [{}, {}]
    for bad in ({"status": 9}, {"tag": "a b"}, {"channel": "a b"}, {"before": "soon"}):
        assert_error(await client.get(f"{base}/endpoint/hook/msg", params=bad), 422)
    assert_error(await client.get(f"{base}/endpoint/ep_missing/msg"), 404)

    resp = await client.get(f"{base}/msg/{m1['id']}/endpoint")
    assert resp.status_code == 200, resp.text
    [dest] = resp.json()["data"]
    assert (dest["id"], dest["status"], dest["statusText"]) == (world["ep"]["id"], 0, "success")
    assert {"url", "description", "createdAt", "updatedAt", "nextAttempt"} <= set(dest)
    assert_error(await client.get(f"/api/v1/app/other/msg/{m1['id']}/endpoint"), 404)
    assert_error(await client.get(f"{base}/msg/{m1['id']}/endpoint", params={"limit": 0}), 422)


async def test_message_list_tag_filter(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    base = world["base"]
    tagged = await create_message_record(client, "acme", tags=["blue", "a/b#c"])
    await create_message_record(client, "acme", tags=["green"])

    async def ids(tag: str) -> list[str]:
        resp = await client.get(f"{base}/msg", params={"tag": tag})
        assert resp.status_code == 200, resp.text
        return [m["id"] for m in resp.json()["data"]]

    assert await ids("blue") == [tagged["id"]]
    assert await ids("a/b#c") == [tagged["id"]]
    assert await ids("red") == []
    assert_error(await client.get(f"{base}/msg", params={"tag": "a b"}), 422)
    assert_error(await client.get(f"{base}/msg", params={"tag": "x" * 129}), 422)


async def test_attempt_list_filters_and_with_msg(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any]
) -> None:
    base = world["base"]
    ok_msg = await create_message_record(client, "acme", tags=["blue"])
    [ok] = await deliver(store, 204, body="fine")
    bad_msg = await create_message_record(client, "acme")
    [bad] = await deliver(store, 503, body="down")
    dead_msg = await create_message_record(client, "acme", tags=["blue"])
    [dead] = await deliver(store, 0)

    for path in (f"{base}/attempt/endpoint/hook", f"{base}/attempt/msg/{ok_msg['id']}"):

        async def ids(path: str = path, **params: Any) -> set[str]:
            resp = await client.get(path, params=params)
            assert resp.status_code == 200, resp.text
            return {a["id"] for a in resp.json()["data"]}

        everything = await ids()
        assert await ids(status_code_class=200) == everything & {ok}
        assert await ids(status_code_class=500) == everything & {bad}
        assert await ids(status_code_class=0) == everything & {dead}
        assert await ids(status_code_class=400) == set()
        assert await ids(tag="blue") == everything & {ok, dead}
        assert await ids(tag="red") == set()
        for bad_query in ({"status_code_class": 250}, {"tag": "a b"}, {"with_msg": "maybe"}):
            assert_error(await client.get(path, params=bad_query), 422)

    resp = await client.get(f"{base}/attempt/endpoint/hook", params={"with_msg": "true"})
    shown = {a["id"]: a for a in resp.json()["data"]}
    assert shown[ok]["msg"]["id"] == ok_msg["id"] and shown[ok]["msg"]["payload"] == {}
    assert shown[bad]["msg"]["id"] == bad_msg["id"]
    assert shown[dead]["msg"]["tags"] == dead_msg["tags"]
    plain = (await client.get(f"{base}/attempt/endpoint/hook")).json()["data"]
    assert all(a["msg"] is None for a in plain)
    assert {a["response"] for a in plain} == {"fine", "down", ""}
    hidden = await client.get(f"{base}/attempt/endpoint/hook", params={"with_content": "false"})
    assert {a["response"] for a in hidden.json()["data"]} == {""}


async def test_precheck(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    base = world["base"]
    await create_endpoint_record(client, "acme", eventTypes=["a.created"], channels=["eu"])
    await create_endpoint_record(client, "other", eventTypes=["b.created"])

    async def active(body: dict[str, Any], app: str = base) -> bool:
        resp = await client.post(f"{app}/msg/precheck/active", json=body)
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"active"}
        return bool(resp.json()["active"])

    # "hook" takes everything; once disabled only the channel-bound one is left
    assert await active({"eventType": "b.created"})
    await client.patch(f"{base}/endpoint/hook", json={"disabled": True})
    assert not await active({"eventType": "b.created"})
    assert not await active({"eventType": "a.created"})
    assert await active({"eventType": "a.created", "channels": ["us", "eu"]})
    assert await active({"eventType": "b.created"}, "/api/v1/app/other")
    for bad in ({}, {"eventType": "a b"}, {"eventType": "a.b", "channels": []}):
        assert_error(await client.post(f"{base}/msg/precheck/active", json=bad), 422)
    assert_error(
        await client.post("/api/v1/app/nope/msg/precheck/active", json={"eventType": "a"}), 404
    )


async def test_count_attempts_by_endpoint_counts_what_the_list_shows(
    client: httpx.AsyncClient, store: Store, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = world["base"]
    await create_message_record(client, "acme", tags=["blue"])
    await deliver(store, 204)
    for _ in range(3):
        await create_message_record(client, "acme")
    await deliver(store, 503)
    other_ep = await create_endpoint_record(client, world["app"]["id"], uid="other-hook")

    async def count(ref: str = "hook", **params: Any) -> dict[str, Any]:
        resp = await client.get(f"{base}/attempt/endpoint/{ref}/count", params=params)
        assert resp.status_code == 200, resp.text
        listed = await client.get(f"{base}/attempt/endpoint/{ref}", params=params)
        body: dict[str, Any] = resp.json()
        assert body["count"] == len(listed.json()["data"]), (params, body)
        return body

    assert await count() == {"count": 4, "approximated": False}
    assert (await count(status_code_class=500))["count"] == 3
    assert (await count(status_code_class=200, tag="blue"))["count"] == 1
    assert (await count(status=0))["count"] == 1
    assert (await count(other_ep["id"]))["count"] == 0
    monkeypatch.setattr(message_views, "COUNT_CEILING", 2)
    capped = await client.get(f"{base}/attempt/endpoint/hook/count")
    assert capped.json() == {"count": 2, "approximated": True}
    assert_error(await client.get(f"{base}/attempt/endpoint/ep_missing/count"), 404)
    foreign = f"/api/v1/app/other/attempt/endpoint/{world['ep']['id']}/count"
    assert_error(await client.get(foreign), 404)
    assert_error(await client.get(f"{base}/attempt/endpoint/hook/count?status_code_class=7"), 422)
