"""Endpoint secrets (get, rotate) and custom headers (get, PUT, PATCH)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import assert_error, create_app_record, create_endpoint_record, new_secret


@pytest.fixture
async def ep_url(client: httpx.AsyncClient) -> str:
    app = await create_app_record(client, uid="acme")
    ep = await create_endpoint_record(
        client, app["id"], uid="hook", headers={"X-One": "1", "X-Two": "2"}
    )
    return f"/api/v1/app/{app['id']}/endpoint/{ep['id']}"


async def secret_of(client: httpx.AsyncClient, ep_url: str) -> str:
    resp = await client.get(f"{ep_url}/secret")
    assert resp.status_code == 200, resp.text
    key: str = resp.json()["key"]
    return key


async def headers_of(client: httpx.AsyncClient, ep_url: str) -> dict[str, Any]:
    resp = await client.get(f"{ep_url}/headers")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert isinstance(body["sensitive"], list)
    return body


# ----- secrets ------------------------------------------------------------------------


async def test_get_secret_by_uid_path(client: httpx.AsyncClient, ep_url: str) -> None:
    key = await secret_of(client, ep_url)
    assert key.startswith("whsec_")
    assert await secret_of(client, "/api/v1/app/acme/endpoint/hook") == key


async def test_rotate_without_key_generates_a_new_one(
    client: httpx.AsyncClient, ep_url: str
) -> None:
    old = await secret_of(client, ep_url)
    resp = await client.post(f"{ep_url}/secret/rotate", json={})
    assert (resp.status_code, resp.content) == (204, b""), resp.text  # as Svix answers
    new = await secret_of(client, ep_url)
    assert new.startswith("whsec_") and new != old


async def test_rotate_with_caller_key(client: httpx.AsyncClient, ep_url: str) -> None:
    mine = new_secret()
    resp = await client.post(f"{ep_url}/secret/rotate", json={"key": mine, "gracePeriodSeconds": 0})
    assert (resp.status_code, resp.content) == (204, b""), resp.text
    assert await secret_of(client, ep_url) == mine


@pytest.mark.parametrize(
    "body",
    [
        {"key": "whsec_tooshort"},
        {"key": "whsec_" + "!" * 40},
        {"key": 12345},
        {"gracePeriodSeconds": -1},
        {"gracePeriodSeconds": 604801},
    ],
)
async def test_rotate_with_bad_input_is_422_and_keeps_the_secret(
    client: httpx.AsyncClient, ep_url: str, body: dict[str, Any]
) -> None:
    before = await secret_of(client, ep_url)
    assert_error(await client.post(f"{ep_url}/secret/rotate", json=body), 422)
    assert await secret_of(client, ep_url) == before


async def test_secret_routes_404_for_unknown_endpoint(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="acme")
    base = "/api/v1/app/acme/endpoint/ep_missing"
    assert_error(await client.get(f"{base}/secret"), 404)
    assert_error(await client.post(f"{base}/secret/rotate", json={}), 404)
    assert_error(await client.get("/api/v1/app/nope/endpoint/hook/secret"), 404)


# ----- headers ------------------------------------------------------------------------


async def test_get_headers_shape(client: httpx.AsyncClient, ep_url: str) -> None:
    body = await headers_of(client, ep_url)
    assert body["headers"] == {"X-One": "1", "X-Two": "2"}
    assert body["sensitive"] == []


async def test_put_headers_replaces_all(client: httpx.AsyncClient, ep_url: str) -> None:
    resp = await client.put(f"{ep_url}/headers", json={"headers": {"X-New": "n"}})
    assert resp.status_code == 204, resp.text
    assert (await headers_of(client, ep_url))["headers"] == {"X-New": "n"}
    resp = await client.put(f"{ep_url}/headers", json={"headers": {}})
    assert resp.status_code == 204
    assert (await headers_of(client, ep_url))["headers"] == {}


async def test_patch_headers_sets_and_null_deletes(client: httpx.AsyncClient, ep_url: str) -> None:
    resp = await client.patch(
        f"{ep_url}/headers", json={"headers": {"X-One": None, "X-Three": "3"}}
    )
    assert resp.status_code == 204, resp.text
    assert (await headers_of(client, ep_url))["headers"] == {"X-Two": "2", "X-Three": "3"}


async def test_patch_headers_delete_headers_list(client: httpx.AsyncClient, ep_url: str) -> None:
    resp = await client.patch(
        f"{ep_url}/headers", json={"headers": {}, "deleteHeaders": ["X-Two", "X-Absent"]}
    )
    assert resp.status_code == 204, resp.text
    assert (await headers_of(client, ep_url))["headers"] == {"X-One": "1"}


@pytest.mark.parametrize(
    "body",
    [
        {"headers": {"Bad Name": "v"}},
        {"headers": {"X-Ok": "a\nb"}},
        {"headers": {"X-Ok": 5}},
        {"headers": "notadict"},
        {"headers": ["X-Ok"]},
    ],
)
async def test_bad_headers_are_422_and_not_saved(
    client: httpx.AsyncClient, ep_url: str, body: dict[str, Any]
) -> None:
    assert_error(await client.put(f"{ep_url}/headers", json=body), 422)
    assert_error(await client.patch(f"{ep_url}/headers", json=body), 422)
    assert (await headers_of(client, ep_url))["headers"] == {"X-One": "1", "X-Two": "2"}


async def test_put_headers_requires_the_headers_key(client: httpx.AsyncClient, ep_url: str) -> None:
    assert_error(await client.put(f"{ep_url}/headers", json={}), 422)


async def test_header_routes_404_for_unknown_endpoint(client: httpx.AsyncClient) -> None:
    await create_app_record(client, uid="acme")
    base = "/api/v1/app/acme/endpoint/ep_missing/headers"
    assert_error(await client.get(base), 404)
    assert_error(await client.put(base, json={"headers": {}}), 404)
    assert_error(await client.patch(base, json={"headers": {}}), 404)
