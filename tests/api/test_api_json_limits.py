"""JSON bodies that parse but are refused: nested too deep, or with a repeated key.

Both refusals must be the same 4xx on the publish fast path (plain ASGI) and on the
FastAPI routes, and write nothing. The nesting limit is the depth orjson can write back,
so everything accepted can also be stored and served again.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    create_app_record,
    create_endpoint_record,
    list_all,
)

from hookline.api.strict_json import MAX_DEPTH

MSG = "/api/v1/app/acme/msg"
# A plain publish takes the fast path; an extra query parameter falls through to FastAPI.
PATHS = [pytest.param(MSG, id="fast-path"), pytest.param(MSG + "?unused=1", id="fastapi-route")]


@pytest.fixture
async def server(server: httpx.AsyncClient) -> httpx.AsyncClient:
    await create_app_record(server, uid="acme")
    await create_endpoint_record(server, "acme", uid="hook")
    return server


def nested_payload(levels: int) -> str:
    """A payload ``levels`` deep (objects around an empty list); the body is one deeper."""
    return '{"a":' * (levels - 1) + "[]" + "}" * (levels - 1)


def message(payload: str) -> bytes:
    return ('{"eventType": "a.b", "payload": ' + payload + "}").encode()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("levels", [MAX_DEPTH, 1_000, 5_000, 100_000])
async def test_too_deep_is_the_same_422_on_every_path(
    server: httpx.AsyncClient, path: str, levels: int
) -> None:
    """``levels`` payload levels plus the body's own: every case is past the limit."""
    resp = await server.post(path, content=message(nested_payload(levels)))
    body = assert_error(resp, 422)
    assert body["code"] == "validation"
    assert [e["type"] for e in body["detail"]] == ["json_too_deep"]
    assert await list_all(server, MSG) == []


@pytest.mark.parametrize("path", PATHS)
async def test_the_deepest_accepted_payload_is_stored_and_served_again(
    server: httpx.AsyncClient, path: str
) -> None:
    resp = await server.post(path, content=message(nested_payload(MAX_DEPTH - 1)))
    assert resp.status_code == 202, resp.text[:300]
    got = await server.get(f"{MSG}/{resp.json()['id']}")
    assert got.status_code == 200
    depth, value = 0, got.json()["payload"]
    while isinstance(value, dict):
        depth, value = depth + 1, value["a"]
    assert (depth, value) == (MAX_DEPTH - 2, [])


async def test_arrays_count_toward_the_depth_too(server: httpx.AsyncClient) -> None:
    deep_list = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    resp = await server.post(MSG, content=message('{"a": ' + deep_list + "}"))
    assert assert_error(resp, 422)["detail"][0]["type"] == "json_too_deep"


async def test_brackets_inside_strings_do_not_count(server: httpx.AsyncClient) -> None:
    """Many brackets, little depth: only structure counts, string contents do not."""
    text = '"[{\\"' + "[{" * (MAX_DEPTH * 2) + '"'
    resp = await server.post(MSG, content=message('{"s": ' + text + ', "l": [[1], [2]]}'))
    assert resp.status_code == 202, resp.text[:300]


APP_ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/api/v1/app", '{"name": "a", "name": "b"}'),
    ("PUT", "/api/v1/app/acme", '{"name": "a", "uid": "acme", "uid": "other"}'),
    ("PATCH", "/api/v1/app/acme", '{"metadata": {"k": "1", "k": "2"}}'),
    ("POST", "/api/v1/event-type", '{"name": "e.a", "description": "", "name": "e.b"}'),
    ("PUT", "/api/v1/event-type/e.c", '{"description": "x", "description": "y"}'),
    ("POST", "/api/v1/app/acme/endpoint", '{"url": "https://e.x/a", "url": "https://e.x/b"}'),
    ("PATCH", "/api/v1/app/acme/endpoint/hook", '{"disabled": true, "disabled": false}'),
    ("PUT", "/api/v1/app/acme/endpoint/hook/headers", '{"headers": {"X-A": "1", "X-A": "2"}}'),
    (
        "POST",
        "/api/v1/app/acme/endpoint/hook/recover",
        '{"since": "2024-01-01T00:00:00Z", "since": "2024-01-02T00:00:00Z"}',
    ),
    ("POST", "/api/v1/operational-webhook/endpoint", '{"url": "https://e.x/a", "url": "x"}'),
    ("POST", MSG, '{"eventType": "a.b", "payload": {"n": 1, "n": 2}}'),
    ("POST", MSG + "?unused=1", '{"eventType": "a.b", "payload": {"n": 1, "n": 2}}'),
    ("POST", MSG, '{"eventType": "a.b", "eventType": "c.d", "payload": {}}'),
    ("POST", MSG, '{"eventType": "a.b", "payload": {"list": [{"x": 1, "y": 2, "x": 3}]}}'),
]


@pytest.mark.parametrize(("method", "path", "raw"), APP_ROUTES)
async def test_a_repeated_key_is_422_on_every_json_route(
    server: httpx.AsyncClient, method: str, path: str, raw: str
) -> None:
    before = await _snapshot(server)
    body = assert_error(await server.request(method, path, content=raw.encode()), 422)
    assert body["code"] == "validation"
    [error] = body["detail"]
    assert error["type"] == "json_duplicate_key", error
    assert await _snapshot(server) == before


async def test_equal_keys_in_different_objects_are_fine(server: httpx.AsyncClient) -> None:
    raw = '{"eventType": "a.b", "payload": {"n": {"n": 1}, "m": [{"n": 2}, {"n": 3}]}}'
    resp = await server.post(MSG, content=raw.encode())
    assert resp.status_code == 202, resp.text


async def _snapshot(server: httpx.AsyncClient) -> list[Any]:
    """What the refused requests above could have changed."""
    return [
        await list_all(server, "/api/v1/app"),
        await list_all(server, "/api/v1/event-type"),
        await list_all(server, "/api/v1/app/acme/endpoint"),
        await list_all(server, "/api/v1/operational-webhook/endpoint"),
        await list_all(server, "/api/v1/background-task"),
        await list_all(server, MSG),
        (await server.get("/api/v1/app/acme/endpoint/hook/headers")).json(),
    ]
