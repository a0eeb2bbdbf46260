"""``import/openapi`` and ``export/openapi``: a realistic OpenAPI 3.1 document's webhooks
become event types (JSON and YAML), a dry run and a malformed document write nothing,
``replaceAll`` archives the rest, and an export imports back to the same catalogue."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml
from api_helpers import assert_error, list_all
from live_server import svix_sdk
from svix.api import EventTypeImportOpenApiIn, EventTypeIn, SvixAsync

from hookline.store.base import Store

ET = "/api/v1/event-type"
IMPORT = ET + "/import/openapi"
EXPORT = ET + "/export/openapi"

USER = {
    "type": "object",
    "required": ["id", "email"],
    "properties": {"id": {"type": "string"}, "email": {"type": "string", "format": "email"}},
}
SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Acme webhooks", "version": "2.3.0"},
    "paths": {"/users": {"get": {"responses": {"200": {"description": "not an event"}}}}},
    "webhooks": {
        "user.created": {
            "post": {
                "summary": "A user signed up",
                "x-svix-group-name": "users",
                "x-svix-feature-flags": ["beta"],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/UserEvent"},
                            "example": {"user": {"id": "u1", "email": "a@example.com"}},
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
        "user.deleted": {
            "post": {
                "description": "A user was deleted",
                "deprecated": True,
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/User"}}
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
        "ping": {"post": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {
        "schemas": {
            "User": USER,
            "UserEvent": {
                "type": "object",
                "properties": {"user": {"$ref": "#/components/schemas/User"}},
            },
        }
    },
}
USER_EVENT = {"type": "object", "properties": {"user": USER}}


@pytest.fixture
async def sdk(store: Store) -> AsyncIterator[SvixAsync]:
    async with svix_sdk(store) as client:
        yield client


async def catalogue(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every event type (archived too), by name, without the timestamps."""
    found = await list_all(client, ET, include_archived="true")
    return {
        e["name"]: {k: v for k, v in e.items() if k not in ("createdAt", "updatedAt")}
        for e in found
    }


def check_imported(types: dict[str, dict[str, Any]]) -> None:
    created = types["user.created"]
    assert created["description"] == "A user signed up"
    assert created["groupName"] == "users" and created["featureFlags"] == ["beta"]
    assert created["schemas"] == {
        "1": {**USER_EVENT, "examples": [{"user": {"id": "u1", "email": "a@example.com"}}]}
    }
    deleted = types["user.deleted"]
    assert deleted["deprecated"] is True and deleted["schemas"] == {"1": USER}
    assert types["ping"]["schemas"] is None and types["ping"]["description"] == ""
    assert "/users" not in types


async def test_sdk_imports_a_json_spec(sdk: SvixAsync, client: httpx.AsyncClient) -> None:
    out = await sdk.event_type.import_openapi(EventTypeImportOpenApiIn(spec=SPEC))
    assert sorted(out.data.modified) == ["ping", "user.created", "user.deleted"]
    assert out.data.to_modify is None
    check_imported(await catalogue(client))
    again = await sdk.event_type.import_openapi(EventTypeImportOpenApiIn(spec=SPEC))
    assert again.data.modified == []  # nothing changed


async def test_yaml_spec_raw_imports_the_same(client: httpx.AsyncClient) -> None:
    raw = yaml.safe_dump(SPEC, sort_keys=False)
    assert "200:" in raw.replace("'200':", "200:")  # YAML response codes may be numbers
    resp = await client.post(IMPORT, json={"specRaw": raw.replace("'200':", "200:")})
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["data"]["modified"]) == ["ping", "user.created", "user.deleted"]
    check_imported(await catalogue(client))


async def test_dry_run_lists_and_writes_nothing(sdk: SvixAsync, client: httpx.AsyncClient) -> None:
    await sdk.event_type.create(EventTypeIn(name="ping", description=""))
    before = await catalogue(client)
    out = await sdk.event_type.import_openapi(EventTypeImportOpenApiIn(spec=SPEC, dry_run=True))
    assert out.data.modified == []
    assert out.data.to_modify is not None
    planned = {e.name: e for e in out.data.to_modify}
    assert sorted(planned) == ["user.created", "user.deleted"]  # ping is unchanged
    assert planned["user.created"].group_name == "users"
    assert planned["user.deleted"].deprecated is True
    assert await catalogue(client) == before
    raw = await client.post(IMPORT, json={"spec": SPEC, "dryRun": True})
    assert "to_modify" in raw.json()["data"]


async def test_replace_all_archives_the_rest_and_unarchives_imported(
    client: httpx.AsyncClient,
) -> None:
    for name in ("old.one", "ping"):
        await client.post(ET, json={"name": name, "description": "before"})
    await client.delete(f"{ET}/ping")  # archived: the import brings it back
    resp = await client.post(IMPORT, json={"spec": SPEC, "replaceAll": True})
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["data"]["modified"]) == [
        "old.one",
        "ping",
        "user.created",
        "user.deleted",
    ]
    types = await catalogue(client)
    assert types["old.one"]["archived"] is True and types["old.one"]["description"] == "before"
    assert types["ping"]["archived"] is False
    assert not any(types[n]["archived"] for n in ("user.created", "user.deleted"))


def broken(case: str) -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    hooks = spec["webhooks"]
    if case == "no-openapi":
        del spec["openapi"]
    elif case == "webhooks-list":
        spec["webhooks"] = ["user.created"]
    elif case == "bad-name":
        hooks["bad name!"] = hooks["ping"]
    elif case == "no-post":
        hooks["ping"] = {"get": hooks["ping"]["post"]}
    elif case == "dangling-ref":
        hooks["ping"]["post"]["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}
        }
    elif case == "remote-ref":
        hooks["ping"]["post"]["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": "https://example.com/s.json"}}}
        }
    elif case == "recursive":
        spec["components"]["schemas"]["User"] = {
            "type": "object",
            "properties": {"friend": {"$ref": "#/components/schemas/User"}},
        }
    elif case == "bad-group":
        hooks["ping"]["post"]["x-svix-group-name"] = "no spaces allowed"
    elif case == "ref-bomb":  # each level refers to the one below twice: 2**40 values
        levels = {
            f"L{i}": {
                "a": {"$ref": f"#/components/schemas/L{i + 1}"},
                "b": {"$ref": f"#/components/schemas/L{i + 1}"},
            }
            for i in range(40)
        }
        spec["components"]["schemas"].update(levels, L40={"type": "string"})
        hooks["ping"]["post"]["requestBody"] = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/L0"}}}
        }
    elif case == "schema-not-object":
        hooks["ping"]["post"]["requestBody"] = {"content": {"application/json": {"schema": 3}}}
    return spec


@pytest.mark.parametrize(
    "case",
    [
        "no-openapi",
        "webhooks-list",
        "bad-name",
        "no-post",
        "dangling-ref",
        "remote-ref",
        "recursive",
        "bad-group",
        "ref-bomb",
        "schema-not-object",
    ],
)
async def test_malformed_specs_are_422_and_write_nothing(
    client: httpx.AsyncClient, case: str
) -> None:
    err = assert_error(await client.post(IMPORT, json={"spec": broken(case)}), 422)
    assert err["code"] == "validation"
    assert await catalogue(client) == {}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("openapi: [unclosed", 422),
        ("a: &a [*a, *a]\nb: !!python/object:os.system {}", 422),
        ("- just\n- a list", 422),
        # an alias bomb: nine levels of nine-fold references
        (
            "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
            + "openapi: 3.1.0\nwebhooks: {big: {post: {requestBody: {content: "
            + "{application/json: {schema: {examples: [*a8]}}}}}}}\n",
            422,
        ),
    ],
)
async def test_bad_spec_raw_is_422_and_writes_nothing(
    client: httpx.AsyncClient, raw: str, status: int
) -> None:
    assert_error(await client.post(IMPORT, json={"specRaw": raw}), status)
    assert await catalogue(client) == {}


@pytest.mark.parametrize("body", [{}, {"spec": SPEC, "specRaw": "openapi: 3.1.0"}])
async def test_neither_or_both_sources_is_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_error(await client.post(IMPORT, json=body), 400)
    assert await catalogue(client) == {}


async def test_export_then_import_round_trips(client: httpx.AsyncClient) -> None:
    await client.post(IMPORT, json={"spec": SPEC})
    await client.post(
        ET,
        json={
            "name": "order.paid",
            "description": "Paid",
            "schemas": {"1": {"type": "object"}},
            "featureFlags": ["a", "b"],
        },
    )
    await client.post(ET, json={"name": "gone", "description": ""})
    await client.delete(f"{ET}/gone")  # archived types are not exported
    before = await catalogue(client)
    resp = await client.post(EXPORT)
    assert resp.status_code == 202, resp.text
    out = resp.json()
    assert out["status"] == "finished" and out["id"].startswith("qtask_")
    doc = out["data"]["spec"]
    assert doc["openapi"].startswith("3.1") and sorted(doc["webhooks"]) == [
        "order.paid",
        "ping",
        "user.created",
        "user.deleted",
    ]
    for name in [*before]:
        await client.delete(f"{ET}/{name}", params={"expunge": "true"})
    assert await catalogue(client) == {}
    back = await client.post(IMPORT, json={"spec": doc})
    assert back.status_code == 200, back.text
    del before["gone"]
    assert await catalogue(client) == before
