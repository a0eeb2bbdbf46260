"""Cross-cutting behaviour: auth, health, OpenAPI, body parsing and size limits, paging bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_helpers import (
    TOKEN,
    assert_error,
    create_app_record,
    create_endpoint_record,
    create_message_record,
    list_all,
)

MIB = 1024 * 1024


@pytest.fixture
async def refs(client: httpx.AsyncClient) -> dict[str, str]:
    app = await create_app_record(client, uid="acme")
    ep = await create_endpoint_record(client, app["id"], uid="hook")
    msg = await create_message_record(client, app["id"], eventId="evt-1")
    return {"app": app["id"], "ep": ep["id"], "msg": msg["id"]}


def every_route(r: dict[str, str]) -> list[tuple[str, str]]:
    app = f"/api/v1/app/{r['app']}"
    ep = f"{app}/endpoint/{r['ep']}"
    return [
        ("GET", "/api/v1/app"),
        ("POST", "/api/v1/app"),
        ("GET", app),
        ("PUT", app),
        ("PATCH", app),
        ("DELETE", app),
        ("GET", "/api/v1/event-type"),
        ("POST", "/api/v1/event-type"),
        ("GET", "/api/v1/event-type/a.b"),
        ("PUT", "/api/v1/event-type/a.b"),
        ("PATCH", "/api/v1/event-type/a.b"),
        ("DELETE", "/api/v1/event-type/a.b"),
        ("GET", f"{app}/endpoint"),
        ("POST", f"{app}/endpoint"),
        ("GET", ep),
        ("PUT", ep),
        ("PATCH", ep),
        ("DELETE", ep),
        ("GET", f"{ep}/secret"),
        ("POST", f"{ep}/secret/rotate"),
        ("GET", f"{ep}/headers"),
        ("PUT", f"{ep}/headers"),
        ("PATCH", f"{ep}/headers"),
        ("GET", f"{app}/msg"),
        ("POST", f"{app}/msg"),
        ("GET", f"{app}/msg/{r['msg']}"),
        ("GET", f"{app}/attempt/msg/{r['msg']}"),
        ("GET", f"{app}/attempt/endpoint/{r['ep']}"),
        ("GET", f"{app}/msg/{r['msg']}/attempt/atmpt_x"),
        ("POST", f"{app}/msg/{r['msg']}/endpoint/{r['ep']}/resend"),
    ]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic " + TOKEN, "Bearer ", TOKEN])
async def test_every_route_needs_the_token(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, refs: dict[str, str], header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in every_route(refs):
        resp = await anon.request(method, path, headers=headers, json={})
        body = assert_error(resp, 401)
        assert body["code"] == "authentication_failed", (method, path, body)
    # nothing was changed by the rejected requests
    assert (await client.get(f"/api/v1/app/{refs['app']}")).status_code == 200
    assert len(await list_all(client, f"/api/v1/app/{refs['app']}/msg")) == 1


async def test_health_needs_no_token(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/api/v1/health")
    assert resp.status_code == 204
    assert resp.content == b""


async def test_openapi_document_is_served(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/app" in doc["paths"]
    assert "/api/v1/app/{app_id}/msg" in doc["paths"]


async def test_unknown_route_and_method_have_json_errors(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nonexistent"), 404)
    assert_error(await client.delete("/api/v1/health"), 405)


@pytest.mark.parametrize("body", [b"not json{", b"{'name': 'x'}", b'{"name": "x"', b"\xff\xfe"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    resp = await client.post(
        "/api/v1/app", content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(resp, 400)
    assert await list_all(client, "/api/v1/app") == []


async def test_non_json_body_without_content_type_is_400(client: httpx.AsyncClient) -> None:
    """The same unparseable body is 400 with a JSON content type; it should not become 422."""
    resp = await client.post("/api/v1/app", content=b"not json{")
    assert_error(resp, 400)
    assert await list_all(client, "/api/v1/app") == []


async def test_non_json_content_type_is_rejected(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/app", content=b'{"name": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert 400 <= resp.status_code < 500
    assert_error(resp, resp.status_code)
    assert await list_all(client, "/api/v1/app") == []


def huge_message(size: int, **extra: Any) -> dict[str, Any]:
    return {"eventType": "a.b", "payload": {"blob": "x" * size}, **extra}


@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB])
async def test_payload_over_one_mib_is_413(
    client: httpx.AsyncClient, refs: dict[str, str], size: int
) -> None:
    resp = await client.post(f"/api/v1/app/{refs['app']}/msg", json=huge_message(size))
    assert_error(resp, 413)
    assert len(await list_all(client, f"/api/v1/app/{refs['app']}/msg")) == 1


async def test_payload_just_under_one_mib_is_accepted(
    client: httpx.AsyncClient, refs: dict[str, str]
) -> None:
    resp = await client.post(f"/api/v1/app/{refs['app']}/msg", json=huge_message(MIB - 100))
    assert resp.status_code == 202, resp.text[:200]


async def test_declared_content_length_over_limit_is_413(
    client: httpx.AsyncClient, refs: dict[str, str]
) -> None:
    resp = await client.post(
        f"/api/v1/app/{refs['app']}/msg",
        content=b'{"eventType": "a.b", "payload": {}}',
        headers={"Content-Type": "application/json", "Content-Length": str(50 * MIB)},
    )
    assert_error(resp, 413)
    assert len(await list_all(client, f"/api/v1/app/{refs['app']}/msg")) == 1


async def test_streamed_body_over_limit_is_413(
    client: httpx.AsyncClient, refs: dict[str, str]
) -> None:
    """A chunked upload (no Content-Length) past the cap must be 413 as well, not 400."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"eventType": "a.b", "payload": {"blob": "'
        for _ in range(40):
            yield b"x" * 100_000
        yield b'"}}'

    resp = await client.post(
        f"/api/v1/app/{refs['app']}/msg",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert_error(resp, 413)
    assert len(await list_all(client, f"/api/v1/app/{refs['app']}/msg")) == 1


async def test_oversized_message_does_not_create_its_application(
    client: httpx.AsyncClient,
) -> None:
    """MessageIn.application creates the app on the fly; a rejected message must not leave it."""
    body = huge_message(MIB + 1, application={"name": "New", "uid": "new-app"})
    assert_error(await client.post("/api/v1/app/new-app/msg", json=body), 413)
    assert_error(await client.get("/api/v1/app/new-app"), 404)
    assert await list_all(client, "/api/v1/app") == []


def list_paths(r: dict[str, str]) -> list[str]:
    app = f"/api/v1/app/{r['app']}"
    return [
        "/api/v1/app",
        "/api/v1/event-type",
        f"{app}/endpoint",
        f"{app}/msg",
        f"{app}/attempt/msg/{r['msg']}",
        f"{app}/attempt/endpoint/{r['ep']}",
    ]


@pytest.mark.parametrize("limit", ["0", "-1", "100000", "251", "ten", "1.5"])
async def test_bad_limit_is_422_on_every_list(
    client: httpx.AsyncClient, refs: dict[str, str], limit: str
) -> None:
    for path in list_paths(refs):
        body = assert_error(await client.get(path, params={"limit": limit}), 422)
        assert body["detail"][0]["loc"] == ["query", "limit"], (path, body)


@pytest.mark.parametrize("limit", ["1", "250"])
async def test_limit_bounds_are_accepted(
    client: httpx.AsyncClient, refs: dict[str, str], limit: str
) -> None:
    for path in list_paths(refs):
        resp = await client.get(path, params={"limit": limit})
        assert resp.status_code == 200, (path, resp.text)
        assert len(resp.json()["data"]) <= int(limit)


@pytest.mark.parametrize("iterator", ["zzzz", "-zzzz", "app_short", "--x", "a b"])
async def test_an_iterator_that_is_not_ours_is_422_not_a_first_page(
    client: httpx.AsyncClient, refs: dict[str, str], iterator: str
) -> None:
    for path in list_paths(refs):
        if path.endswith("event-type") and iterator in ("zzzz", "-zzzz", "app_short", "--x"):
            continue  # event types page by name: these are names
        body = assert_error(await client.get(path, params={"iterator": iterator}), 422)
        assert body["detail"][0]["loc"] == ["query", "iterator"], (path, body)
