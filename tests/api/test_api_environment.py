"""Environment export and import: a setup copied to an empty server (another store)
comes out the same, importing twice changes nothing, and a bad document is a 422 that
writes nothing. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import BASE, TOKEN, assert_error, make_settings, new_secret
from live_server import serving
from svix.api import EnvironmentIn, EventTypeIn, Svix, SvixOptions

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.store.base import Store

EXPORT, IMPORT = "/api/v1/environment/export", "/api/v1/environment/import"
TEMPLATE = "hookline_template"  # the migrated template database tests/conftest.py makes
_names = itertools.count()


@pytest.fixture
async def other(
    tmp_path: Path, database_url: str | None, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """A second, empty server on a store of the same kind."""
    url, name, server = None, f"copy{os.getpid()}_{next(_names)}", None
    if database_url is not None:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(name, template=TEMPLATE)
    data = tmp_path / "other"
    data.mkdir()
    store = runtime.open_store(
        make_settings(data).model_copy(update={"database_url": url}), migrated=url is not None
    )
    await store.open()
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers
        ) as c:
            yield c
    finally:
        await store.close()
        if server is not None:
            server.drop_database(name)


async def _ok(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    resp = await client.request(method, path, json=body)
    assert resp.is_success, (path, resp.text)
    return resp.json() if resp.content else None


async def _seed(client: httpx.AsyncClient) -> None:
    schema = {"1": {"type": "object", "properties": {"id": {"type": "string"}}}}
    await _ok(client, "POST", "/api/v1/event-type", {"name": "user.created", "schemas": schema})
    await _ok(client, "POST", "/api/v1/event-type", {"name": "user.gone", "description": "d"})
    await _ok(client, "DELETE", "/api/v1/event-type/user.gone")  # archived, and exported
    acme = await _ok(
        client,
        "POST",
        "/api/v1/app",
        {"name": "Acme", "uid": "acme", "metadata": {"tier": "gold"}, "throttleRate": 50},
    )
    bare = await _ok(client, "POST", "/api/v1/app", {"name": "No uid"})
    await _ok(
        client,
        "POST",
        f"/api/v1/app/{acme['id']}/endpoint",
        {
            "url": "https://example.com/acme",
            "uid": "main",
            "description": "main hook",
            "filterTypes": ["user.created"],
            "channels": ["eu"],
            "headers": {"X-Tenant": "acme"},
            "metadata": {"team": "a"},
            "filter": "payload.id != null",
            "maxInFlight": 4,
        },
    )
    await _ok(
        client,
        "POST",
        f"/api/v1/app/{bare['id']}/endpoint",
        {"url": "https://example.com/bare", "disabled": True, "secret": new_secret()},
    )


STAMPS = {"createdAt", "updatedAt"}


async def _setup(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything an import should carry, as the API shows it (timestamps aside)."""
    event_types = await _ok(client, "GET", "/api/v1/event-type?include_archived=true")
    out: dict[str, Any] = {"eventTypes": [_plain(e) for e in event_types["data"]], "apps": []}
    for app in (await _ok(client, "GET", "/api/v1/app"))["data"]:
        endpoints = []
        for ep in (await _ok(client, "GET", f"/api/v1/app/{app['id']}/endpoint"))["data"]:
            path = f"/api/v1/app/{app['id']}/endpoint/{ep['id']}"
            secret = (await _ok(client, "GET", path + "/secret"))["key"]
            headers = (await _ok(client, "GET", path + "/headers"))["headers"]
            endpoints.append({**_plain(ep), "secret": secret, "headers": headers})
        out["apps"].append({**_plain(app), "endpoints": endpoints})
    return out


def _plain(shown: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in shown.items() if k not in STAMPS}


async def test_a_copy_on_an_empty_server_is_the_same_and_import_is_idempotent(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await _seed(client)
    original = await _setup(client)
    doc = await _ok(client, "POST", EXPORT + "?include_secrets=true")
    assert doc["version"] == 1 and doc["settings"] == {} and doc["connectors"] == []
    assert len(doc["applications"]) == 2 and len(doc["eventTypes"]) == 2
    assert (await other.post(IMPORT, json=doc)).status_code == 204
    copied = await _setup(other)
    assert copied == original
    # again, on both: nothing changes (by id, uid and name, never a second copy)
    for server in (other, client):
        assert (await server.post(IMPORT, json=doc)).status_code == 204
        assert await _setup(server) == original


async def test_secrets_and_headers_stay_out_unless_asked_for(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await _seed(client)
    original = await _setup(client)
    doc = await _ok(client, "POST", EXPORT)
    endpoints = [ep for app in doc["applications"] for ep in app["endpoints"]]
    assert endpoints and all("secret" not in ep and "headers" not in ep for ep in endpoints)
    assert (await other.post(IMPORT, json=doc)).status_code == 204
    copied = await _setup(other)
    new = [ep for app in copied["apps"] for ep in app["endpoints"]]
    old = [ep for app in original["apps"] for ep in app["endpoints"]]
    assert [e["id"] for e in new] == [e["id"] for e in old]
    for n, o in zip(new, old, strict=True):
        assert n["secret"] != o["secret"] and n["headers"] == {}
    # the source server keeps its secrets and headers when the document comes back
    assert (await client.post(IMPORT, json=doc)).status_code == 204
    assert await _setup(client) == original


def _doc(*apps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"eventTypes": [{"name": "ok.type", "description": "d"}], "applications": apps, **extra}


GOOD = {"name": "Good", "uid": "good", "endpoints": [{"url": "https://example.com/g"}]}


@pytest.mark.parametrize(
    ("doc", "loc"),
    [
        (_doc(GOOD, {"name": "Bad", "endpoints": [{"url": "ftp://x"}]}), "applications.1"),
        (_doc(GOOD, {"name": "Bad", "endpoints": [{"url": "https://e.com/a", "secret": "s"}]}), ""),
        (_doc(GOOD, {**GOOD, "name": "Twice"}), "applications.uid"),
        (_doc(GOOD, {"name": "Bad", "uid": "bad uid"}), ""),
        (_doc(GOOD, {"name": "Bad", "id": "acme"}), "applications.1.id"),
        (_doc({**GOOD, "endpoints": [{"url": "https://e.com/a", "id": "app_x"}]}), "id"),
        (_doc(GOOD, {"name": ""}), ""),
        (_doc({**GOOD, "endpoints": [{"url": "https://e.com/a"}] * 2 + [{}]}), ""),
        (_doc(GOOD, eventTypes=[{"name": "a"}, {"name": "a"}]), "eventTypes"),
        (_doc(GOOD, eventTypes=[{"name": "not valid"}]), ""),
        (_doc(GOOD, connectors=[{"name": "c", "transformation": "function(){}"}]), "connectors"),
        ({"applications": {"name": "x"}}, ""),
        ({"eventTypes": "x"}, ""),
    ],
)
async def test_a_bad_document_is_422_and_writes_nothing(
    other: httpx.AsyncClient, doc: dict[str, Any], loc: str
) -> None:
    before = await _setup(other)
    body = assert_error(await other.post(IMPORT, json=doc), 422)
    where = [".".join(err["loc"]) for err in body["detail"]]
    assert any(loc in w for w in where), where
    assert await _setup(other) == before == {"eventTypes": [], "apps": []}


def _sdk_copy(source: str, target: str) -> list[str]:
    options = [SvixOptions(server_url=url, retry_schedule=[]) for url in (source, target)]
    a, b = Svix(TOKEN, options[0]), Svix(TOKEN, options[1])
    try:
        out = a.environment.export()
        assert out.version == 1 and out.connectors == []
        types = [EventTypeIn.model_validate(t.model_dump()) for t in out.event_types]
        b.environment.import_(EnvironmentIn(event_types=types, settings=out.settings))
        return sorted(t.name for t in b.event_type.list().data)
    finally:
        a._httpx_client.close()  # SDK 2.9.1 has no close()
        b._httpx_client.close()


async def test_the_svix_sdk_exports_and_imports(
    client: httpx.AsyncClient, other: httpx.AsyncClient, store: Store
) -> None:
    await _seed(client)
    target = other._transport.app.state.context.store  # type: ignore[attr-defined]
    async with serving(store) as source, serving(target) as dest:
        names = await asyncio.to_thread(_sdk_copy, source, dest)
    assert names == ["user.created"]  # the archived one is copied, and listed as archived
    listed = await _ok(other, "GET", "/api/v1/event-type?include_archived=true")
    original = await _ok(client, "GET", "/api/v1/event-type?include_archived=true")
    assert [_plain(e) for e in listed["data"]] == [_plain(e) for e in original["data"]]
