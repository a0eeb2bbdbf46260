"""Consumer-portal access as Svix grants it: ``app-portal-access``, ``expire-all``,
``logout``; the ``appsk_`` token it returns, scoped to one application."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import TOKEN, assert_error, create_app_record, make_settings
from live_server import serving
from portal_helpers import ACCESS, bearer, link_key, portal_access
from svix.api import (
    ApplicationIn,
    ApplicationTokenExpireIn,
    AppPortalAccessIn,
    EndpointIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError

from hookline import runtime
from hookline.access import token_hash
from hookline.models import AccessKind
from hookline.store.base import Store

ALL = [
    "CreateAttempts",
    "ManageEndpoint",
    "ManageEndpointSecret",
    "ManageTransformations",
    "ViewBase",
    "ViewEndpointSecret",
]


def _now() -> int:
    return int(time.time() * 1000)


async def _row(store: Store, secret: str, kind: AccessKind) -> Any:
    return await store.find_access_token(token_hash(secret), kind, _now())


async def test_shape_and_defaults(client: httpx.AsyncClient, store: Store) -> None:
    app = await create_app_record(client, uid="acme")
    out = await portal_access(client, "acme", sessionId="user_1")
    assert set(out) == {"url", "token"}
    assert out["url"].startswith("http://127.0.0.1:8000/portal/login#key=")
    assert out["token"].startswith("appsk_")
    assert link_key(out["url"]) not in out["token"]
    token = await _row(store, out["token"], AccessKind.PORTAL_TOKEN)
    link = await _row(store, link_key(out["url"]), AccessKind.PORTAL_LINK)
    for row in (token, link):
        assert row.app_id == app["id"]
        assert row.capabilities == ALL  # all by default
        assert row.read_only is False
        assert row.label == "user_1"
        # a week by default
        assert abs(row.expires_at - (_now() + 7 * 86400 * 1000)) < 60_000
    assert token.grant_id == link.grant_id


async def test_capabilities_always_include_view_base(
    client: httpx.AsyncClient, store: Store
) -> None:
    await create_app_record(client, uid="acme")
    out = await portal_access(
        client, "acme", capabilities=["ViewEndpointSecret"], readOnly=True, expiry=3600
    )
    row = await _row(store, out["token"], AccessKind.PORTAL_TOKEN)
    assert row.capabilities == ["ViewBase", "ViewEndpointSecret"]
    assert row.read_only is True
    assert abs(row.expires_at - (_now() + 3600 * 1000)) < 60_000
    empty = await portal_access(client, "acme", capabilities=[])
    assert (await _row(store, empty["token"], AccessKind.PORTAL_TOKEN)).capabilities == ["ViewBase"]


async def test_application_is_created_when_missing(client: httpx.AsyncClient) -> None:
    body = {"application": {"name": "New customer"}}
    out = await portal_access(client, "cust-7", **body)
    created = (await client.get("/api/v1/app/cust-7")).json()
    assert created["name"] == "New customer" and created["uid"] == "cust-7"
    # the app exists now: the body's application is ignored, the grant is for it
    again = await portal_access(client, "cust-7", application={"name": "Other"})
    assert (await client.get("/api/v1/app/cust-7")).json()["name"] == "New customer"
    listed = await client.get("/api/v1/app", params={"limit": 250})
    assert [a["uid"] for a in listed.json()["data"]] == ["cust-7"]
    for grant in (out, again):
        resp = await client.get("/api/v1/app/cust-7/endpoint", headers=bearer(grant["token"]))
        assert resp.status_code == 200, resp.text


async def test_unknown_application_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(f"{ACCESS}/nobody", json={}), 404)
    assert_error(await client.post("/api/v1/auth/app/nobody/expire-all", json={}), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"expiry": 3599},
        {"expiry": 604801},
        {"capabilities": ["ViewBase", "Everything"]},
        {"capabilities": "ViewBase"},
        {"sessionId": "has space"},
        {"sessionId": "x" * 65},
        {"readOnly": "perhaps"},
        {"featureFlags": ["bad flag"]},
        {"application": {"uid": "no-name"}},
    ],
)
async def test_bad_input_is_422_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    await create_app_record(client, uid="acme")
    assert_error(await client.post(f"{ACCESS}/acme", json=body), 422)
    assert_error(await client.post(f"{ACCESS}/fresh", json=body), 422)
    assert (await client.get("/api/v1/app/fresh")).status_code == 404


@pytest.mark.parametrize(
    "body", [{"expiry": -1}, {"expiry": 259201}, {"sessionIds": ["a b"]}, {"sessionIds": "a"}]
)
async def test_bad_expire_all_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    await create_app_record(client, uid="acme")
    out = await portal_access(client, "acme")
    assert_error(await client.post("/api/v1/auth/app/acme/expire-all", json=body), 422)
    resp = await client.get("/api/v1/app/acme", headers=bearer(out["token"]))
    assert resp.status_code == 200


@pytest.mark.sqlite_only  # reads SQLite's file for the plain secrets
async def test_only_hashes_are_stored(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await create_app_record(client, uid="acme")
    out = await portal_access(client, "acme")
    path = runtime.sqlite_path(make_settings(tmp_path).resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        dump = "\n".join(conn.iterdump())
    assert token_hash(out["token"]) in dump and token_hash(link_key(out["url"])) in dump
    assert out["token"] not in dump
    assert out["token"].removeprefix("appsk_") not in dump
    assert link_key(out["url"]) not in dump


async def test_expire_all_ends_tokens_and_links(client: httpx.AsyncClient, store: Store) -> None:
    await create_app_record(client, uid="acme")
    other = await create_app_record(client, uid="other")
    grants = [await portal_access(client, "acme", sessionId=f"s{n}") for n in range(3)]
    kept = await portal_access(client, "other")
    resp = await client.post("/api/v1/auth/app/acme/expire-all", json={"sessionIds": ["s1"]})
    assert resp.status_code == 204
    assert await _row(store, grants[1]["token"], AccessKind.PORTAL_TOKEN) is None
    assert await _row(store, link_key(grants[1]["url"]), AccessKind.PORTAL_LINK) is None
    assert await _row(store, grants[0]["token"], AccessKind.PORTAL_TOKEN) is not None
    gone = await client.get("/api/v1/app/acme", headers=bearer(grants[1]["token"]))
    assert_error(gone, 401)
    # later, not now
    resp = await client.post("/api/v1/auth/app/acme/expire-all", json={"expiry": 120})
    assert resp.status_code == 204
    row = await _row(store, grants[0]["token"], AccessKind.PORTAL_TOKEN)
    assert row is not None and abs(row.expires_at - (_now() + 120_000)) < 60_000
    assert (await client.post("/api/v1/auth/app/acme/expire-all", json={})).status_code == 204
    for grant in (grants[0], grants[2]):
        assert_error(await client.get("/api/v1/app/acme", headers=bearer(grant["token"])), 401)
        assert await _row(store, link_key(grant["url"]), AccessKind.PORTAL_LINK) is None
    # another application's grant is untouched
    resp = await client.get(f"/api/v1/app/{other['id']}", headers=bearer(kept["token"]))
    assert resp.status_code == 200


async def test_logout_ends_the_token_used(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="acme")
    first, second = await portal_access(client, "acme"), await portal_access(client, "acme")
    resp = await client.post("/api/v1/auth/logout", headers=bearer(first["token"]))
    assert resp.status_code == 204
    assert_error(await client.get("/api/v1/app/acme", headers=bearer(first["token"])), 401)
    assert (await client.get("/api/v1/app/acme", headers=bearer(second["token"]))).is_success
    # the admin token is not ended
    assert (await client.post("/api/v1/auth/logout")).status_code == 204
    assert (await client.get("/api/v1/app/acme")).status_code == 200


async def test_a_wrong_portal_token_is_401(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="acme")
    out = await portal_access(client, "acme")
    for token in (out["token"] + "x", "appsk_", "appsk_" + "A" * 43):
        resp = await client.get("/api/v1/app/acme", headers=bearer(token))
        assert assert_error(resp, 401)["code"] == "authentication_failed"


async def test_dashboard_access_grants_everything(client: httpx.AsyncClient, store: Store) -> None:
    await create_app_record(client, uid="acme")
    resp = await client.post("/api/v1/auth/dashboard-access/acme")
    assert resp.status_code == 200, resp.text
    row = await _row(store, resp.json()["token"], AccessKind.PORTAL_TOKEN)
    assert row.capabilities == ALL and not row.read_only
    assert_error(await client.post("/api/v1/auth/dashboard-access/nobody"), 404)


@pytest.fixture
async def live(store: Store) -> AsyncIterator[str]:
    async with serving(store) as base:
        yield base


def _sdk_flow(base_url: str) -> None:
    options = SvixOptions(server_url=base_url, retry_schedule=[])
    admin = Svix(TOKEN, options)
    try:
        _sdk_calls(base_url, admin, options)
    finally:
        # SDK 2.9.1 has no close(); an open keep-alive socket trips ResourceWarning
        admin._httpx_client.close()


def _sdk_calls(base_url: str, admin: Svix, options: SvixOptions) -> None:
    mine = admin.application.create(ApplicationIn(name="Mine", uid="mine"))
    theirs = admin.application.create(ApplicationIn(name="Theirs", uid="theirs"))
    admin.endpoint.create(mine.id, EndpointIn(url="https://example.com/a"))
    admin.endpoint.create(theirs.id, EndpointIn(url="https://example.com/b"))
    access = admin.authentication.app_portal_access(
        "mine", AppPortalAccessIn(capabilities=["ViewBase"], session_id="user_1")
    )
    assert access.url.startswith(base_url + "/portal/login#key=")
    portal = Svix(access.token, options)
    try:
        _portal_calls(admin, portal, mine.id, theirs.id)
    finally:
        portal._httpx_client.close()


def _portal_calls(admin: Svix, portal: Svix, mine: str, theirs: str) -> None:
    listed = portal.endpoint.list(mine)
    assert [e.url for e in listed.data] == ["https://example.com/a"]
    for attempt in (
        lambda: portal.endpoint.list(theirs),
        lambda: portal.endpoint.create(mine, EndpointIn(url="https://example.com/c")),
        lambda: portal.application.list(),
    ):
        with pytest.raises(HttpError) as refused:
            attempt()
        assert refused.value.status_code in (403, 404)
    admin.authentication.expire_all("mine", ApplicationTokenExpireIn(session_ids=["user_1"]))
    with pytest.raises(HttpError) as ended:
        portal.endpoint.list(mine)
    assert ended.value.status_code == 401


async def test_the_svix_sdk_gets_and_uses_portal_access(live: str) -> None:
    await asyncio.to_thread(_sdk_flow, live)
