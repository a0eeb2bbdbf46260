"""Helpers shared by the API tests (imported as ``api_helpers``; not a conftest)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hookline.addresses import AddressPolicy
from hookline.api import ApiContext, create_app
from hookline.config import Settings
from hookline.store.base import Store

TOKEN = "test-token-0123456789abcdef"
BASE = "http://hookline.test"
ENDPOINTS = "/api/v1/app/acme/endpoint"
OPS = "/api/v1/operational-webhook/endpoint"


def make_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, api_token=TOKEN)


def new_secret() -> str:
    """What Svix issues: ``whsec_`` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def assert_error(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The error body every non-2xx response must have: ``{"code": str, "detail": ...}``.

    For 422 the detail must be a non-empty list of ``{loc: [str], msg: str, type: str}``,
    or the Svix SDK crashes while parsing it.
    """
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert "detail" in body, body
    if status == 422:
        assert isinstance(body["detail"], list) and body["detail"], body
        for item in body["detail"]:
            assert isinstance(item["loc"], list), item
            assert all(isinstance(p, str) for p in item["loc"]), item
            assert isinstance(item["msg"], str), item
            assert isinstance(item["type"], str), item
    return body


def assert_list_shape(body: dict[str, Any]) -> None:
    """Svix's ListResponse*: ``data`` list, ``iterator`` key present (may be null), ``done``."""
    assert isinstance(body["data"], list), body
    assert "iterator" in body, body
    assert body["iterator"] is None or isinstance(body["iterator"], str), body
    assert isinstance(body["done"], bool), body


async def create_app_record(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/app", json={"name": "Acme", **fields})
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def create_endpoint_record(
    client: httpx.AsyncClient, app_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"url": "https://example.com/hook", **fields}
    resp = await client.post(f"/api/v1/app/{app_id}/endpoint", json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def create_message_record(
    client: httpx.AsyncClient, app_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"eventType": "user.created", "payload": {"n": 1}, **fields}
    resp = await client.post(f"/api/v1/app/{app_id}/msg", json=body)
    assert resp.status_code == 202, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def list_all(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a (small) list route, in one page."""
    resp = await client.get(path, params={"limit": 250, **params})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_list_shape(body)
    assert body["done"] is True, body
    data: list[dict[str, Any]] = body["data"]
    return data


@asynccontextmanager
async def as_served(
    store: Store, policy: AddressPolicy | None = None, **headers: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, authenticated, where an unhandled exception comes back as the 500 a
    real server sends instead of raising in the test."""
    context = ApiContext(store=store, admin_token=TOKEN)
    if policy is not None:
        context.address_policy = policy
    transport = httpx.ASGITransport(app=create_app(context), raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {TOKEN}", **headers}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
        yield c


@asynccontextmanager
async def url_routes(
    store: Store, policy: AddressPolicy | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An app ``acme`` with an endpoint ``hook`` and an operational endpoint ``ops``, for
    the routes that take an endpoint URL to replace and patch."""
    async with as_served(store, policy) as c:
        await create_app_record(c, uid="acme")
        await create_endpoint_record(c, "acme", uid="hook")
        op = await c.post(OPS, json={"url": "https://example.com/ops", "uid": "ops"})
        assert op.status_code == 201, op.text
        yield c


def url_requests(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route that takes an endpoint URL; PUTs both replace and create."""
    return [
        ("POST", ENDPOINTS, {"url": url}),
        ("PUT", ENDPOINTS + "/hook", {"url": url}),
        ("PUT", ENDPOINTS + "/new-hook", {"url": url}),
        ("PATCH", ENDPOINTS + "/hook", {"url": url}),
        ("POST", OPS, {"url": url}),
        ("PUT", OPS + "/ops", {"url": url}),
        ("PUT", OPS + "/new-ops", {"url": url}),
    ]
