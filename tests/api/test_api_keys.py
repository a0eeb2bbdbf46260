"""API keys at ``/api/v1/auth/api-token``: shown once, stored as hashes, server-wide or
scoped to one application, expired or revoked into 401s, last use recorded (rarely)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import BASE, TOKEN, assert_error, assert_list_shape, create_app_record
from api_helpers import make_settings as settings_for
from portal_helpers import bearer, portal_access

from hookline import runtime
from hookline.access import censored
from hookline.api import ApiContext, create_app
from hookline.models import AccessKind, AccessToken
from hookline.store.base import Store

KEYS = "/api/v1/auth/api-token"


async def make_key(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await client.post(KEYS, json={"name": "ci", **body})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_the_token_is_shown_once_and_only_its_hash_is_kept(
    client: httpx.AsyncClient, store: Store
) -> None:
    created = await make_key(client, name="deploys")
    token = created["token"]
    assert token.startswith("hlk_") and len(token) > 40
    assert created["censoredToken"] == "hlk_****" + token[-4:]
    assert created["name"] == "deploys" and created["expiresAt"] is None
    assert created["appId"] is None and created["lastUsedAt"] is None
    shown = await client.get(f"{KEYS}/{created['id']}")
    listed = await client.get(KEYS)
    assert_list_shape(listed.json())
    for resp in (shown, listed):
        assert resp.status_code == 200, resp.text
        assert token not in resp.text and token[4:] not in resp.text and '"token"' not in resp.text
    assert [k["id"] for k in listed.json()["data"]] == [created["id"]]
    row = await store.get_key(AccessKind.API_KEY, created["id"], None)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert all(token[4:] not in str(value) for value in _fields(row))


def _fields(row: AccessToken) -> list[Any]:
    return [getattr(row, name) for name in AccessToken.__slots__]  # type: ignore[attr-defined]


@pytest.mark.sqlite_only  # reads SQLite's file for the plain tokens
async def test_no_plain_token_in_the_database(client: httpx.AsyncClient, tmp_path: Path) -> None:
    app = await create_app_record(client, uid="acme")
    tokens = [(await make_key(client))["token"], (await make_key(client, appId="acme"))["token"]]
    integ = await client.post(f"/api/v1/app/{app['id']}/integration", json={"name": "i"})
    tokens.append(integ.json()["key"])
    path = runtime.sqlite_path(settings_for(tmp_path).resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        dump = "\n".join(conn.iterdump())
    for token in tokens:
        assert hashlib.sha256(token.encode()).hexdigest() in dump
        assert token.partition("_")[2] not in dump


async def test_a_server_wide_key_does_what_the_admin_does_but_manage_keys(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    key = bearer((await make_key(client))["token"])
    app = await anon.post("/api/v1/app", json={"name": "By key", "uid": "bykey"}, headers=key)
    assert app.status_code == 201, app.text
    assert (await anon.get("/api/v1/app", headers=key)).status_code == 200
    sent = await anon.post(
        "/api/v1/app/bykey/msg", json={"eventType": "a.b", "payload": {}}, headers=key
    )
    assert sent.status_code == 202, sent.text
    # a key mints no key, not even a narrower one, and does not see the others
    for method, path, body in (
        ("POST", KEYS, {"name": "wider"}),
        ("GET", KEYS, None),
        ("POST", "/api/v1/app/bykey/integration", {"name": "i"}),
        ("GET", "/api/v1/app/bykey/integration", None),
    ):
        resp = await anon.request(method, path, json=body, headers=key)
        assert assert_error(resp, 403)["code"] == "forbidden"
    assert len((await client.get(KEYS)).json()["data"]) == 1
    assert (await client.get("/api/v1/app/bykey/integration")).json()["data"] == []


async def test_an_application_key_reaches_all_of_its_application_and_nothing_else(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    mine = await create_app_record(client, uid="mine")
    theirs = await create_app_record(client, uid="theirs")
    key = bearer((await make_key(client, appId="mine"))["token"])
    assert (await client.post("/api/v1/event-type", json={"name": "a.b"})).status_code == 201
    # unlike a portal token: publishing, endpoints, the application itself
    sent = await anon.post(
        f"/api/v1/app/{mine['id']}/msg", json={"eventType": "a.b", "payload": {}}, headers=key
    )
    assert sent.status_code == 202, sent.text
    made = await anon.post(
        "/api/v1/app/mine/endpoint", json={"url": "https://example.com/k"}, headers=key
    )
    assert made.status_code == 201, made.text
    renamed = await anon.patch("/api/v1/app/mine", json={"name": "Renamed"}, headers=key)
    assert renamed.status_code == 200, renamed.text
    assert (await anon.get("/api/v1/event-type/a.b", headers=key)).status_code == 200
    who = await anon.get("/api/v1/auth/whoami", headers=key)
    assert who.json()["appId"] == mine["id"]
    for method, path in (
        ("GET", f"/api/v1/app/{theirs['id']}"),
        ("GET", "/api/v1/app/theirs/endpoint"),
        ("POST", f"/api/v1/app/{theirs['id']}/msg"),
        ("PUT", "/api/v1/app/newapp"),  # an upsert that would create: not its application
    ):
        resp = await anon.request(method, path, json={"name": "x", "payload": {}}, headers=key)
        assert_error(resp, 404)
    for method, path in (
        ("GET", "/api/v1/app"),
        ("POST", "/api/v1/app"),
        ("POST", "/api/v1/event-type"),
        ("POST", "/api/v1/auth/app-portal-access/mine"),
        ("GET", "/ingest/api/v1/source"),
    ):
        resp = await anon.request(method, path, json={"name": "x"}, headers=key)
        assert assert_error(resp, 403)["code"] == "forbidden", (method, path)
    assert (await client.get("/api/v1/app/theirs/endpoint")).json()["data"] == []


async def test_expired_and_revoked_keys_are_401(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, store: Store
) -> None:
    # one that expired a second ago, written as the API writes keys
    now = int(time.time() * 1000)
    old = "hlk_" + "o" * 43
    await store.create_access_tokens(
        [
            AccessToken(
                id="key_expired",
                kind=AccessKind.API_KEY,
                token_hash=hashlib.sha256(old.encode()).hexdigest(),
                app_id=None,
                capabilities=[],
                read_only=False,
                created_at=now - 5000,
                expires_at=now - 1000,
                name="old",
            )
        ]
    )
    assert_error(await anon.get("/api/v1/app", headers=bearer(old)), 401)
    soon = await make_key(client, expiresAt=_iso(datetime.now(UTC) + timedelta(days=1)))
    revoked, deleted = await make_key(client), await make_key(client)
    for key in (soon, revoked, deleted):
        assert (await anon.get("/api/v1/app", headers=bearer(key["token"]))).status_code == 200
    assert (await client.post(f"{KEYS}/{revoked['id']}/expire", json={})).status_code == 204
    assert (await client.delete(f"{KEYS}/{deleted['id']}")).status_code == 204
    for key in (revoked, deleted):
        assert_error(await anon.get("/api/v1/app", headers=bearer(key["token"])), 401)
    assert (await anon.get("/api/v1/app", headers=bearer(soon["token"]))).status_code == 200
    assert_error(await client.get(f"{KEYS}/{deleted['id']}"), 404)
    gone = (await client.get(f"{KEYS}/{revoked['id']}")).json()["expiresAt"]
    assert datetime.fromisoformat(gone) <= datetime.now(UTC)
    # a grace period: still valid, ending within it
    assert (await client.post(f"{KEYS}/{soon['id']}/expire", json={"expiry": 600})).is_success
    ends = datetime.fromisoformat((await client.get(f"{KEYS}/{soon['id']}")).json()["expiresAt"])
    assert timedelta(seconds=0) < ends - datetime.now(UTC) <= timedelta(seconds=600)
    assert (await anon.get("/api/v1/app", headers=bearer(soon["token"]))).status_code == 200


async def test_last_use_is_recorded_once_a_minute_at_most(
    client: httpx.AsyncClient, store: Store
) -> None:
    created = await make_key(client)

    def used() -> int | None:
        return row.used_at

    row = await store.get_key(AccessKind.API_KEY, created["id"], None)
    assert used() is None
    before = int(time.time() * 1000)
    async with _client(store, created["token"]) as keyed:
        for _ in range(5):
            assert (await keyed.get("/api/v1/app")).status_code == 200
            await asyncio.sleep(0.01)  # each request in a later millisecond
    row = await store.get_key(AccessKind.API_KEY, created["id"], None)
    first = used()
    assert first is not None and first >= before
    shown = (await client.get(f"{KEYS}/{created['id']}")).json()["lastUsedAt"]
    assert datetime.fromisoformat(shown) == datetime.fromtimestamp(first / 1000, UTC)
    # another process (a gate with no memory of it) reads the recent use and writes nothing
    async with _client(store, created["token"]) as keyed:
        assert (await keyed.get("/api/v1/app")).status_code == 200
    row = await store.get_key(AccessKind.API_KEY, created["id"], None)
    assert used() == first
    # a use more than a minute after the last one is recorded
    await store.touch_key(created["id"], first - 61_000)
    async with _client(store, created["token"]) as keyed:
        assert (await keyed.get("/api/v1/app")).status_code == 200
    row = await store.get_key(AccessKind.API_KEY, created["id"], None)
    assert used() is not None and used() >= first  # type: ignore[operator]


@contextlib.asynccontextmanager
async def _client(store: Store, token: str) -> Any:
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, headers=bearer(token)
    ) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"name": ""}, 422),
        ({"name": "x" * 257}, 422),
        ({"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}, 422),
        ({"name": "x", "expiresAt": "soon"}, 422),
        ({"name": "x", "appId": "no such app"}, 422),
        ({"name": "x", "appId": "missing"}, 404),
        ({"name": ["x"]}, 422),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    assert_error(await client.post(KEYS, json=body), status)
    assert (await client.get(KEYS)).json()["data"] == []


async def test_rename_and_unknown_keys(client: httpx.AsyncClient) -> None:
    created = await make_key(client, name="first")
    put = await client.put(f"{KEYS}/{created['id']}", json={"name": "second"})
    assert put.status_code == 200 and put.json()["name"] == "second", put.text
    patched = await client.patch(f"{KEYS}/{created['id']}", json={})
    assert patched.json()["name"] == "second"
    patched = await client.patch(f"{KEYS}/{created['id']}", json={"name": "third"})
    assert patched.json()["name"] == "third"
    assert patched.json()["censoredToken"] == created["censoredToken"]
    assert_error(await client.put(f"{KEYS}/{created['id']}", json={}), 422)
    for method in ("GET", "PATCH", "DELETE"):
        assert_error(await client.request(method, f"{KEYS}/key_missing", json={}), 404)
    assert_error(await client.post(f"{KEYS}/key_missing/expire", json={}), 404)
    assert_error(await client.post(f"{KEYS}/{created['id']}/expire", json={"expiry": -1}), 422)


async def test_expire_all_ends_portal_tokens_but_not_the_applications_keys(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    app = await create_app_record(client, uid="acme")
    key = bearer((await make_key(client, appId="acme"))["token"])
    integ = await client.post(f"/api/v1/app/{app['id']}/integration", json={"name": "i"})
    portal = bearer((await portal_access(client, "acme"))["token"])
    ended = await client.post("/api/v1/auth/app/acme/expire-all", json={})
    assert ended.status_code == 204
    assert_error(await anon.get("/api/v1/app/acme/endpoint", headers=portal), 401)
    for held in (key, bearer(integ.json()["key"])):
        assert (await anon.get("/api/v1/app/acme/endpoint", headers=held)).status_code == 200


async def test_whoami(client: httpx.AsyncClient, anon: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid="acme")
    admin = (await client.get("/api/v1/auth/whoami")).json()
    assert admin == {
        "envId": None,
        "appId": None,
        "permissionSource": "GlobalAuthToken",
        "sessionId": None,
    }
    portal = bearer((await portal_access(client, "acme"))["token"])
    assert (await anon.get("/api/v1/auth/whoami", headers=portal)).json()["appId"] == app["id"]
    assert_error(await anon.get("/api/v1/auth/whoami"), 401)


async def test_a_key_of_an_application_named_stats_does_not_reach_server_wide_counts(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    """``/api/v1/app/stats/count-active`` looks like a path under an application whose uid
    is ``stats``; it counts every application, so such a key must not reach it."""
    await create_app_record(client, uid="stats")
    key = bearer((await make_key(client, appId="stats"))["token"])
    assert (await anon.get("/api/v1/app/stats", headers=key)).status_code == 200
    counted = await anon.get("/api/v1/app/stats/count-active", headers=key)
    assert assert_error(counted, 403)["code"] == "forbidden"
    assert (await client.get("/api/v1/app/stats/count-active")).status_code == 200


def test_a_censored_key_shows_its_prefix_and_last_four_characters_only() -> None:
    # the random part is URL-safe base64, which has underscores of its own
    assert censored("hlk_abc_defgh_ijkl_mnop") == "hlk_****mnop"
    assert censored("integsk_" + "x" * 38 + "_Q1") == "integsk_****x_Q1"
