"""/api/v1/event-type: create, list, get, PUT, PATCH, and DELETE (archive or expunge)."""

from __future__ import annotations

from typing import Any

import httpx
from api_helpers import assert_error, assert_list_shape, list_all

SCHEMAS = {"1": {"type": "object", "properties": {"id": {"type": "string"}}}}


async def create_event_type(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/event-type", json={"name": name, "description": f"{name} happened", **fields}
    )
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    return [e["name"] for e in await list_all(client, "/api/v1/event-type", **params)]


async def test_create_returns_201_with_svix_shape(client: httpx.AsyncClient) -> None:
    et = await create_event_type(client, "user.created", schemas=SCHEMAS)
    assert et["name"] == "user.created"
    assert et["description"] == "user.created happened"
    assert et["deprecated"] is False and et["archived"] is False
    assert et["schemas"] == SCHEMAS
    assert et["createdAt"] and et["updatedAt"]


async def test_create_duplicate_is_409(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "user.created")
    resp = await client.post("/api/v1/event-type", json={"name": "user.created", "description": ""})
    assert_error(resp, 409)
    assert await names(client) == ["user.created"]


async def test_create_unarchives_an_archived_event_type(client: httpx.AsyncClient) -> None:
    """Svix: "Create new or unarchive existing event type" (POST /api/v1/event-type)."""
    await create_event_type(client, "user.created")
    assert (await client.delete("/api/v1/event-type/user.created")).status_code == 204
    resp = await client.post(
        "/api/v1/event-type", json={"name": "user.created", "description": "back"}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["archived"] is False
    assert await names(client) == ["user.created"]


async def test_list_hides_archived_unless_asked(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "a.one")
    await create_event_type(client, "b.two", archived=True)
    assert await names(client) == ["a.one"]
    assert await names(client, include_archived="true") == ["a.one", "b.two"]


async def test_list_paginates_by_name(client: httpx.AsyncClient) -> None:
    for name in ("e.3", "e.1", "e.2"):
        await create_event_type(client, name)
    first = (await client.get("/api/v1/event-type", params={"limit": 2})).json()
    assert_list_shape(first)
    assert [e["name"] for e in first["data"]] == ["e.1", "e.2"]
    assert first["done"] is False
    second = (
        await client.get("/api/v1/event-type", params={"limit": 2, "iterator": first["iterator"]})
    ).json()
    assert [e["name"] for e in second["data"]] == ["e.3"]
    assert second["done"] is True


async def test_list_without_content_omits_schemas(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "with.schema", schemas=SCHEMAS)
    data = await list_all(client, "/api/v1/event-type", with_content="false")
    assert data[0].get("schemas") is None
    data = await list_all(client, "/api/v1/event-type", with_content="true")
    assert data[0]["schemas"] == SCHEMAS


async def test_get_and_get_unknown(client: httpx.AsyncClient) -> None:
    et = await create_event_type(client, "invoice.paid")
    resp = await client.get("/api/v1/event-type/invoice.paid")
    assert resp.status_code == 200
    assert resp.json() == et
    assert_error(await client.get("/api/v1/event-type/no.such"), 404)


async def test_put_creates_then_updates(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/event-type/order.shipped", json={"description": "v1"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "order.shipped"
    updated = await client.put(
        "/api/v1/event-type/order.shipped", json={"description": "v2", "deprecated": True}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "v2"
    assert updated.json()["deprecated"] is True
    assert updated.json()["createdAt"] == created.json()["createdAt"]
    assert await names(client) == ["order.shipped"]


async def test_patch_changes_only_sent_fields(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "p.one", schemas=SCHEMAS)
    resp = await client.patch("/api/v1/event-type/p.one", json={"deprecated": True})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["deprecated"] is True
    assert out["description"] == "p.one happened" and out["schemas"] == SCHEMAS
    resp = await client.patch("/api/v1/event-type/p.one", json={"schemas": None})
    assert resp.status_code == 200
    assert resp.json().get("schemas") is None
    assert_error(await client.patch("/api/v1/event-type/nope", json={"deprecated": True}), 404)


async def test_delete_archives_by_default(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "soft.delete")
    resp = await client.delete("/api/v1/event-type/soft.delete")
    assert resp.status_code == 204
    got = await client.get("/api/v1/event-type/soft.delete")
    assert got.status_code == 200
    assert got.json()["archived"] is True
    assert await names(client) == []
    assert await names(client, include_archived="true") == ["soft.delete"]


async def test_delete_with_expunge_removes(client: httpx.AsyncClient) -> None:
    await create_event_type(client, "hard.delete")
    resp = await client.delete("/api/v1/event-type/hard.delete", params={"expunge": "true"})
    assert resp.status_code == 204
    assert_error(await client.get("/api/v1/event-type/hard.delete"), 404)
    assert await names(client, include_archived="true") == []
    assert_error(await client.delete("/api/v1/event-type/hard.delete"), 404)


async def test_invalid_names_are_422_and_not_written(client: httpx.AsyncClient) -> None:
    for name in ("bad name!", "", "a/b", "x" * 257, "ünïcode"):
        resp = await client.post("/api/v1/event-type", json={"name": name, "description": ""})
        assert_error(resp, 422)
    assert_error(await client.put("/api/v1/event-type/bad name!", json={"description": ""}), 422)
    assert_error(await client.get("/api/v1/event-type/bad name!"), 422)
    assert await names(client, include_archived="true") == []


async def test_wrong_types_are_422(client: httpx.AsyncClient) -> None:
    bodies = [
        {"name": "ok.name", "description": {"a": 1}},
        {"name": "ok.name", "description": "", "schemas": "notanobject"},
        {"name": "ok.name", "description": "", "archived": "maybe"},
        {"name": 5, "description": ""},
    ]
    for body in bodies:
        assert_error(await client.post("/api/v1/event-type", json=body), 422)
    assert_error(await client.put("/api/v1/event-type/ok.name", json={"archived": [1]}), 422)
    assert await names(client, include_archived="true") == []
