"""What a source received: Svix's log shape, hookline's full records with their filters,
credentials masked, and a replay queued for the router."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from api_helpers import assert_error, assert_list_shape

from hookline import ids
from hookline.sources import InboundRequest, Verdict
from hookline.store.base import Store

SOURCES = "/ingest/api/v1/source"


def now() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


async def received(
    store: Store, source_id: str, at: int, verdict: Verdict, body: bytes, **kw: Any
) -> InboundRequest:
    request = InboundRequest(
        # the first id of that millisecond: ids carry the time the filters compare, and
        # this one does not depend on what other tests did to the process's id clock
        id=ids.boundary_id("req", at),
        source_id=source_id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={
            "content-type": "application/json",
            "authorization": "Basic dTpwdw==",
            **kw.pop("headers", {}),
        },
        body=body,
        verdict=verdict,
        status_code=200 if verdict is Verdict.ACCEPTED else 401,
        received_at=at,
        **kw,
    )
    return await store.intake(request, at)


@pytest.fixture
async def source(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {
        "name": "Keys",
        "uid": "keys",
        "type": "api-key",
        "config": {"secret": "k", "header": "X-Key"},
    }
    resp = await client.post(SOURCES, json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def test_log_and_requests_show_what_arrived(
    client: httpx.AsyncClient, store: Store, source: dict[str, Any]
) -> None:
    sid = source["id"]
    ok = await received(
        store,
        sid,
        now(),
        Verdict.ACCEPTED,
        b'{"a":1}',
        event_type="push",
        dedup_key="d-1",
        headers={"x-key": "k"},
    )
    between = ok.received_at + 500
    bad = await received(
        store, sid, ok.received_at + 1000, Verdict.REJECTED, b"\xff\xfe", reason="bad_key"
    )
    log = (await client.get(f"{SOURCES}/keys/log")).json()
    assert_list_shape(log)
    assert [e["id"] for e in log["data"]] == [bad.id, ok.id]  # newest first
    entry = log["data"][1]
    assert entry["source_id"] == sid and entry["status_code"] == 200
    assert entry["payload"] == '{"a":1}' and entry["error_text"] == ""
    assert entry["verdict"] == "accepted" and entry["event_type"] == "push"
    assert entry["headers"]["authorization"] == "***" and entry["headers"]["x-key"] == "***"
    assert log["data"][0]["error_text"] == "bad_key"
    assert set(entry) >= {
        "id",
        "source_id",
        "status_code",
        "error_text",
        "headers",
        "payload",
        "created_at",
        "updated_at",
    }
    oldest = (
        await client.get(f"{SOURCES}/keys/log", params={"order": "ascending", "limit": 1})
    ).json()
    assert [e["id"] for e in oldest["data"]] == [ok.id] and not oldest["done"]

    full = (await client.get(f"{SOURCES}/keys/request/{bad.id}")).json()
    assert full["bodyEncoding"] == "base64" and base64.b64decode(full["body"]) == b"\xff\xfe"
    assert (full["verdict"], full["reason"], full["statusCode"]) == ("rejected", "bad_key", 401)
    assert full["method"] == "POST" and full["path"] == "/in/{token}"
    first = (await client.get(f"{SOURCES}/keys/request/{ok.id}")).json()
    assert (first["body"], first["bodyEncoding"], first["dedupKey"]) == ('{"a":1}', "text", "d-1")

    async def listed(**params: Any) -> list[str]:
        page = (await client.get(f"{SOURCES}/keys/request", params=params)).json()
        assert_list_shape(page)
        return [r["id"] for r in page["data"]]

    assert await listed() == [bad.id, ok.id]
    assert await listed(verdict="rejected") == [bad.id]
    assert await listed(verdict="accepted") == [ok.id]
    assert await listed(before=iso(between)) == [ok.id]
    assert await listed(after=iso(between)) == [bad.id]
    assert_error(await client.get(f"{SOURCES}/keys/request", params={"verdict": "odd"}), 422)


async def test_replay_queues_a_stored_request_again(
    client: httpx.AsyncClient, store: Store, source: dict[str, Any]
) -> None:
    bad = await received(store, source["id"], now(), Verdict.REJECTED, b"{}", reason="bad_key")
    resp = await client.post(f"{SOURCES}/keys/request/{bad.id}/replay")
    assert resp.status_code == 202, resp.text
    assert (resp.json()["verdict"], resp.json()["replays"]) == ("replay", 1)
    assert [q.id for q in await store.unrouted_requests(10)] == [bad.id]
    assert_error(await client.post(f"{SOURCES}/keys/request/req_missing/replay"), 404)
    assert_error(await client.get(f"{SOURCES}/keys/request/req_missing"), 404)


async def test_requests_of_another_source_are_not_found(
    client: httpx.AsyncClient, store: Store, source: dict[str, Any]
) -> None:
    other = await client.post(SOURCES, json={"name": "Other", "type": "none"})
    theirs = await received(store, other.json()["id"], now(), Verdict.ACCEPTED, b"{}")
    assert_error(await client.get(f"{SOURCES}/keys/request/{theirs.id}"), 404)
    assert_error(await client.post(f"{SOURCES}/keys/request/{theirs.id}/replay"), 404)
    assert (await client.get(f"{SOURCES}/keys/log")).json()["data"] == []
