"""/api/v1/app: create, get_if_exists, list and paginate, get by id or uid, PUT, PATCH, DELETE."""

from __future__ import annotations

import re

import httpx
from api_helpers import assert_error, assert_list_shape, create_app_record, list_all

APP_ID = re.compile(r"^app_[A-Za-z0-9]{27}$")


async def test_create_returns_201_with_svix_shape(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/app",
        json={"name": "Acme", "uid": "acme", "throttleRate": 10, "metadata": {"tier": "gold"}},
    )
    assert resp.status_code == 201, resp.text
    app = resp.json()
    assert APP_ID.match(app["id"]), app
    assert app["name"] == "Acme"
    assert app["uid"] == "acme"
    assert app["throttleRate"] == 10
    assert app["metadata"] == {"tier": "gold"}
    assert app["createdAt"] and app["updatedAt"]


async def test_create_without_metadata_returns_empty_object(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid=None)
    assert app["metadata"] == {}
    assert app["uid"] is None


async def test_get_if_exists_returns_the_existing_app(client: httpx.AsyncClient) -> None:
    first = await create_app_record(client, uid="acme")
    resp = await client.post(
        "/api/v1/app", params={"get_if_exists": "true"}, json={"name": "Other", "uid": "acme"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == first["id"]
    assert resp.json()["name"] == "Acme"
    assert len(await list_all(client, "/api/v1/app")) == 1


async def test_get_if_exists_creates_when_missing(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/app", params={"get_if_exists": "true"}, json={"name": "New", "uid": "new"}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["uid"] == "new"


async def test_duplicate_uid_is_409_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="acme")
    resp = await client.post("/api/v1/app", json={"name": "Again", "uid": "acme"})
    assert_error(resp, 409)
    apps = await list_all(client, "/api/v1/app")
    assert [a["name"] for a in apps] == ["Acme"]


async def test_list_paginates_with_limit_iterator_and_done(client: httpx.AsyncClient) -> None:
    created = [(await create_app_record(client, name=f"app{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    iterator = None
    pages = 0
    while True:
        params = {"limit": 2} if iterator is None else {"limit": 2, "iterator": iterator}
        resp = await client.get("/api/v1/app", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert_list_shape(body)
        assert len(body["data"]) <= 2
        seen += [a["id"] for a in body["data"]]
        pages += 1
        if body["done"]:
            break
        iterator = body["iterator"]
        assert iterator
    assert pages == 3
    assert seen == sorted(created)


async def test_list_empty(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/app")
    assert resp.status_code == 200
    body = resp.json()
    assert_list_shape(body)
    assert body["data"] == [] and body["done"] is True


async def test_get_by_id_and_by_uid(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid="acme-1")
    by_id = await client.get(f"/api/v1/app/{app['id']}")
    by_uid = await client.get("/api/v1/app/acme-1")
    assert by_id.status_code == by_uid.status_code == 200
    assert by_id.json() == by_uid.json() == app


async def test_get_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/app/app_doesnotexist"), 404)
    assert_error(await client.get("/api/v1/app/no-such-uid"), 404)


async def test_put_creates_then_updates(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/app/my-app", json={"name": "First", "uid": "my-app"})
    assert created.status_code == 201, created.text
    app = created.json()
    assert app["uid"] == "my-app"
    updated = await client.put(
        "/api/v1/app/my-app", json={"name": "Second", "uid": "my-app", "metadata": {"k": "v"}}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == app["id"]
    assert updated.json()["name"] == "Second"
    assert updated.json()["metadata"] == {"k": "v"}
    assert len(await list_all(client, "/api/v1/app")) == 1


async def test_put_without_uid_uses_the_path_as_uid(client: httpx.AsyncClient) -> None:
    created = await client.put("/api/v1/app/path-uid", json={"name": "First"})
    assert created.status_code == 201, created.text
    assert created.json()["uid"] == "path-uid"


async def test_put_by_uid_twice_keeps_the_app_addressable(client: httpx.AsyncClient) -> None:
    """SDK ``application.upsert("my-app", ApplicationIn(name=...))`` called twice.

    The first call creates the app with uid ``my-app`` (taken from the path). The second
    must update that same app and leave it reachable under ``my-app``.
    """
    first = await client.put("/api/v1/app/my-app", json={"name": "First"})
    assert first.status_code == 201, first.text
    second = await client.put("/api/v1/app/my-app", json={"name": "Second"})
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["uid"] == "my-app", second.json()
    got = await client.get("/api/v1/app/my-app")
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "Second"


async def test_put_uid_taken_by_another_app_is_409(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="taken")
    other = await create_app_record(client, uid="other")
    resp = await client.put(f"/api/v1/app/{other['id']}", json={"name": "X", "uid": "taken"})
    assert_error(resp, 409)
    assert (await client.get("/api/v1/app/other")).json()["name"] == "Acme"


async def test_patch_changes_only_sent_fields(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid="p", metadata={"a": "1"}, throttleRate=5)
    resp = await client.patch(f"/api/v1/app/{app['id']}", json={"name": "Renamed"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["name"] == "Renamed"
    assert out["uid"] == "p" and out["metadata"] == {"a": "1"} and out["throttleRate"] == 5
    resp = await client.patch("/api/v1/app/p", json={"uid": None, "metadata": {"b": "2"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["uid"] is None and resp.json()["metadata"] == {"b": "2"}
    assert_error(await client.get("/api/v1/app/p"), 404)


async def test_patch_uid_conflict_is_409(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="one")
    await create_app_record(client, uid="two")
    assert_error(await client.patch("/api/v1/app/two", json={"uid": "one"}), 409)
    assert (await client.get("/api/v1/app/two")).status_code == 200


async def test_patch_unknown_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.patch("/api/v1/app/nope", json={"name": "x"}), 404)


async def test_delete_then_404(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid="gone")
    resp = await client.delete(f"/api/v1/app/{app['id']}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert_error(await client.get(f"/api/v1/app/{app['id']}"), 404)
    assert_error(await client.delete(f"/api/v1/app/{app['id']}"), 404)
    assert await list_all(client, "/api/v1/app") == []


async def test_delete_by_uid(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="by-uid")
    assert (await client.delete("/api/v1/app/by-uid")).status_code == 204
    assert_error(await client.get("/api/v1/app/by-uid"), 404)


async def test_invalid_app_bodies_are_422_and_not_written(client: httpx.AsyncClient) -> None:
    bad_bodies = [
        {},
        {"name": ""},
        {"name": {"a": 1}},
        {"name": "x", "uid": "bad uid!"},
        {"name": "x", "throttleRate": 0},
        {"name": "x", "metadata": {"a": 1}},
        {"name": "x", "metadata": "notadict"},
    ]
    for body in bad_bodies:
        assert_error(await client.post("/api/v1/app", json=body), 422)
        assert_error(await client.put("/api/v1/app/some-app", json=body), 422)
    assert await list_all(client, "/api/v1/app") == []


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/app", json={"name": "x", "color": "blue", "version": 9})
    assert resp.status_code == 201, resp.text
    assert "color" not in resp.json()
