"""A source's endpoints through the Ingest API are its application's endpoints: the same
records, the same checks, and the full endpoint API works on them too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import assert_error, assert_list_shape, new_secret

SOURCES = "/ingest/api/v1/source"


@pytest.fixture
async def source(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {"name": "GitHub in", "uid": "gh", "type": "github", "config": {"secret": "s"}}
    resp = await client.post(SOURCES, json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def test_endpoint_lifecycle_through_the_ingest_api(
    client: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    base = f"{SOURCES}/gh/endpoint"
    secret = new_secret()
    body = {"url": "https://example.com/a", "uid": "a", "secret": secret, "headers": {"X-T": "1"}}
    created = await client.post(base, json=body)
    assert created.status_code == 201, created.text
    ep = created.json()
    app_view = await client.get(f"/api/v1/app/{source['appId']}/endpoint/{ep['id']}")
    assert app_view.json() == ep  # one record, two addresses
    assert (await client.get(f"{base}/a")).json() == ep
    listed = (await client.get(base)).json()
    assert_list_shape(listed)
    assert [e["id"] for e in listed["data"]] == [ep["id"]]

    put = await client.put(f"{base}/a", json={"url": "https://example.com/b", "description": "d"})
    assert put.status_code == 200 and put.json()["url"] == "https://example.com/b"

    assert (await client.get(f"{base}/a/secret")).json() == {"key": secret}
    rotated = await client.post(f"{base}/a/secret/rotate", json={})
    assert rotated.status_code == 204 and rotated.content == b""
    new_key = (await client.get(f"{base}/a/secret")).json()["key"]
    assert new_key != secret and new_key.startswith("whsec_")

    assert (await client.get(f"{base}/a/headers")).json() == {
        "headers": {"X-T": "1"},
        "sensitive": [],
    }
    assert (
        await client.put(f"{base}/a/headers", json={"headers": {"X-U": "2"}})
    ).status_code == 204
    assert (await client.get(f"{base}/a/headers")).json()["headers"] == {"X-U": "2"}

    # The endpoint API's extensions apply to the same record.
    patched = await client.patch(
        f"/api/v1/app/{source['appId']}/endpoint/a",
        json={"filter": "action == 'opened'", "fifo": True, "eventTypes": ["push"]},
    )
    assert patched.status_code == 200, patched.text
    seen = (await client.get(f"{base}/a")).json()
    assert (seen["filter"], seen["fifo"], seen["eventTypes"]) == (
        "action == 'opened'",
        True,
        ["push"],
    )

    assert (await client.delete(f"{base}/a")).status_code == 204
    assert_error(await client.get(f"{base}/a"), 404)
    assert (await client.get(base)).json()["data"] == []


async def test_endpoint_input_is_checked_as_elsewhere(
    server: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    base = f"{SOURCES}/gh/endpoint"
    for body in (
        {"url": "not a url"},
        {"url": "ftp://example.com/"},
        {"url": "http://10.0.0.1/"},  # refused by the SSRF policy, never contacted
        {"url": "https://example.com/", "secret": "short"},
        {"url": "https://example.com/", "headers": {"Bad Name": "x"}},
    ):
        assert_error(await server.post(base, json=body), 422)
    assert_error(await server.put(f"{base}/x", json={"url": "gopher://x/"}), 422)
    assert (await server.get(base)).json()["data"] == []
    assert_error(await server.get(f"{base}/nope"), 404)
    other = await server.post("/api/v1/app", json={"name": "other"})
    ep = await server.post(
        f"/api/v1/app/{other.json()['id']}/endpoint", json={"url": "https://example.com/o"}
    )
    # Another application's endpoint is not this source's.
    assert_error(await server.get(f"{base}/{ep.json()['id']}"), 404)
    assert_error(await server.delete(f"{base}/{ep.json()['id']}"), 404)


async def test_transformations_and_the_dashboard_are_not_supported(
    server: httpx.AsyncClient, source: dict[str, Any]
) -> None:
    ep = await server.post(f"{SOURCES}/gh/endpoint", json={"url": "https://example.com/a"})
    path = f"{SOURCES}/gh/endpoint/{ep.json()['id']}/transformation"
    for resp in (
        await server.get(path),
        await server.patch(path, json={"enabled": True, "code": "function handler() {}"}),
        await server.post(f"{SOURCES}/gh/dashboard", json={}),
    ):
        body = assert_error(resp, 404)
        assert body["code"] == "not_supported", body
    missing = await server.get(f"{SOURCES}/gh/endpoint/ep_missing/transformation")
    assert assert_error(missing, 404)["code"] == "not_found"
