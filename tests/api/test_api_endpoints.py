"""/api/v1/app/{app}/endpoint: create (all fields, aliases), list, get, PUT, PATCH, DELETE, URLs."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    assert_list_shape,
    create_app_record,
    create_endpoint_record,
    list_all,
    new_secret,
)

EP_ID = re.compile(r"^ep_[A-Za-z0-9]{27}$")


@pytest.fixture
async def app(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_app_record(client, uid="acme")


def eps(app: dict[str, Any]) -> str:
    return f"/api/v1/app/{app['id']}/endpoint"


async def test_create_with_every_field(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    secret = new_secret()
    body = {
        "url": "https://example.com/hook",
        "uid": "ep-1",
        "description": "main",
        "eventTypes": ["user.created", "user.deleted"],
        "channels": ["project.1", "team:a"],
        "headers": {"X-Custom": "yes"},
        "throttleRate": 20,
        "metadata": {"owner": "ops"},
        "secret": secret,
    }
    resp = await client.post(eps(app), json=body)
    assert resp.status_code == 201, resp.text
    ep = resp.json()
    assert EP_ID.match(ep["id"]), ep
    assert ep["url"] == body["url"] and ep["uid"] == "ep-1" and ep["description"] == "main"
    assert ep["eventTypes"] == ["user.created", "user.deleted"]
    assert ep["channels"] == ["project.1", "team:a"]
    assert ep["throttleRate"] == 20
    assert ep["metadata"] == {"owner": "ops"}
    assert ep["disabled"] is False
    assert ep["createdAt"] and ep["updatedAt"]
    assert "secret" not in ep and "headers" not in ep
    got = await client.get(f"{eps(app)}/{ep['id']}/secret")
    assert got.status_code == 200 and got.json() == {"key": secret}
    headers = await client.get(f"{eps(app)}/{ep['id']}/headers")
    assert headers.json()["headers"] == {"X-Custom": "yes"}


async def test_minimal_create_defaults(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    ep = await create_endpoint_record(client, app["id"])
    assert ep["description"] == "" and ep["metadata"] == {}
    assert ep.get("eventTypes") is None and ep.get("channels") is None
    key = (await client.get(f"{eps(app)}/{ep['id']}/secret")).json()["key"]
    assert re.match(r"^whsec_[A-Za-z0-9+/=]{32,}$", key), key


async def test_legacy_aliases_are_accepted(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    ep = await create_endpoint_record(client, app["id"], filterTypes=["invoice.paid"], rateLimit=7)
    assert ep["eventTypes"] == ["invoice.paid"]
    assert ep["throttleRate"] == 7
    patched = await client.patch(f"{eps(app)}/{ep['id']}", json={"filterTypes": ["a.b"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["eventTypes"] == ["a.b"]


async def test_list_paginates(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    made = [(await create_endpoint_record(client, app["id"]))["id"] for _ in range(3)]
    ids = sorted(made, reverse=True)  # newest first unless order=ascending, as Svix lists
    first = (await client.get(eps(app), params={"limit": 2})).json()
    assert_list_shape(first)
    assert [e["id"] for e in first["data"]] == ids[:2] and first["done"] is False
    rest = (await client.get(eps(app), params={"limit": 2, "iterator": first["iterator"]})).json()
    assert [e["id"] for e in rest["data"]] == ids[2:] and rest["done"] is True


async def test_list_is_per_app_and_by_uid(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    other = await create_app_record(client, uid="other")
    mine = await create_endpoint_record(client, app["id"])
    await create_endpoint_record(client, other["id"])
    assert [e["id"] for e in await list_all(client, "/api/v1/app/acme/endpoint")] == [mine["id"]]
    assert_error(await client.get("/api/v1/app/nope/endpoint"), 404)


async def test_get_by_id_and_uid(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    ep = await create_endpoint_record(client, app["id"], uid="hook")
    assert (await client.get(f"{eps(app)}/{ep['id']}")).json() == ep
    assert (await client.get("/api/v1/app/acme/endpoint/hook")).json() == ep
    assert_error(await client.get(f"{eps(app)}/ep_missing"), 404)
    other = await create_app_record(client, uid="other")
    assert_error(await client.get(f"{eps(other)}/{ep['id']}"), 404)


async def test_duplicate_endpoint_uid_is_409(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    await create_endpoint_record(client, app["id"], uid="hook")
    resp = await client.post(eps(app), json={"url": "https://example.com/2", "uid": "hook"})
    assert_error(resp, 409)
    assert len(await list_all(client, eps(app))) == 1


async def test_put_creates_then_updates(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    created = await client.put(f"{eps(app)}/hook", json={"url": "https://a.example/1"})
    assert created.status_code == 201, created.text
    assert created.json()["uid"] == "hook"
    updated = await client.put(
        f"{eps(app)}/{created.json()['id']}",
        json={"url": "https://a.example/2", "uid": "hook", "eventTypes": ["x.y"]},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["url"] == "https://a.example/2"
    assert updated.json()["eventTypes"] == ["x.y"]
    assert len(await list_all(client, eps(app))) == 1


async def test_put_by_uid_twice_keeps_the_uid(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    """SDK ``endpoint.upsert(app, "hook", EndpointUpsertIn(url=...))`` called twice."""
    first = await client.put(f"{eps(app)}/hook", json={"url": "https://a.example/1"})
    assert first.status_code == 201, first.text
    second = await client.put(f"{eps(app)}/hook", json={"url": "https://a.example/2"})
    assert second.status_code == 200, second.text
    assert second.json()["uid"] == "hook", second.json()
    assert (await client.get(f"{eps(app)}/hook")).status_code == 200


async def test_patch_changes_only_sent_fields(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    ep = await create_endpoint_record(
        client, app["id"], uid="hook", eventTypes=["a.b"], channels=["c"], description="d"
    )
    url = f"{eps(app)}/{ep['id']}"
    resp = await client.patch(url, json={"disabled": True, "throttleRate": 3})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["disabled"] is True and out["throttleRate"] == 3
    assert out["eventTypes"] == ["a.b"] and out["channels"] == ["c"] and out["description"] == "d"
    resp = await client.patch(url, json={"eventTypes": None, "channels": None, "uid": None})
    assert resp.status_code == 200, resp.text
    assert resp.json().get("eventTypes") is None and resp.json().get("channels") is None
    assert resp.json()["uid"] is None
    assert_error(await client.patch(f"{eps(app)}/ep_missing", json={"disabled": True}), 404)


async def test_delete_then_404(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    ep = await create_endpoint_record(client, app["id"], uid="hook")
    resp = await client.delete(f"{eps(app)}/hook")
    assert resp.status_code == 204 and resp.content == b""
    assert_error(await client.get(f"{eps(app)}/{ep['id']}"), 404)
    assert_error(await client.delete(f"{eps(app)}/{ep['id']}"), 404)
    assert await list_all(client, eps(app)) == []


BAD_URLS = [
    "ftp://example.com/hook",
    "javascript:alert(1)",
    "http://",
    "https://",
    "http:///path",
    "http://:80/x",
    "http://[::1",
    "https://example.com:99999/",
    "example.com/hook",
    "",
]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_bad_urls_are_422_everywhere(
    client: httpx.AsyncClient, app: dict[str, Any], url: str
) -> None:
    assert_error(await client.post(eps(app), json={"url": url}), 422)
    assert_error(await client.put(f"{eps(app)}/new-one", json={"url": url}), 422)
    assert await list_all(client, eps(app)) == []
    ep = await create_endpoint_record(client, app["id"])
    assert_error(await client.patch(f"{eps(app)}/{ep['id']}", json={"url": url}), 422)
    assert (await client.get(f"{eps(app)}/{ep['id']}")).json()["url"] == ep["url"]


async def test_url_with_space_in_host_is_422(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    """A host with a space is not a URI (OpenAPI ``format: uri``) and can never be delivered to."""
    assert_error(await client.post(eps(app), json={"url": "http://exa mple.com/hook"}), 422)
    assert await list_all(client, eps(app)) == []


BAD_BODIES: list[dict[str, Any]] = [
    {"url": "https://e.x/h", "eventTypes": "notalist"},
    {"url": "https://e.x/h", "eventTypes": []},
    {"url": "https://e.x/h", "eventTypes": ["bad name!"]},
    {"url": "https://e.x/h", "channels": [f"c{i}" for i in range(11)]},
    {"url": "https://e.x/h", "channels": ["no spaces"]},
    {"url": "https://e.x/h", "throttleRate": 0},
    {"url": "https://e.x/h", "throttleRate": "fast"},
    {"url": "https://e.x/h", "metadata": {"a": 1}},
    {"url": "https://e.x/h", "uid": "bad uid"},
    {"url": "https://e.x/h", "secret": "whsec_short"},
    {"url": "https://e.x/h", "secret": "not a secret at all, no no no no no"},
    {"url": "https://e.x/h", "headers": {"Bad Name": "v"}},
    {"url": "https://e.x/h", "headers": {"X-Ok": "line\r\nbreak"}},
    {"url": {"a": 1}},
    {},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_bodies_are_422_and_not_written(
    client: httpx.AsyncClient, app: dict[str, Any], body: dict[str, Any]
) -> None:
    assert_error(await client.post(eps(app), json=body), 422)
    assert await list_all(client, eps(app)) == []


async def test_unknown_app_is_404_and_unknown_fields_ignored(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    assert_error(await client.post("/api/v1/app/nope/endpoint", json={"url": "https://e.x"}), 404)
    ep = await create_endpoint_record(client, app["id"], colour="red", version=42)
    assert "colour" not in ep
