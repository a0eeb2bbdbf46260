"""Helpers for the consumer-portal credential tests (imported as ``portal_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

ACCESS = "/api/v1/auth/app-portal-access"


async def portal_access(client: httpx.AsyncClient, app: str, **body: Any) -> dict[str, str]:
    resp = await client.post(f"{ACCESS}/{app}", json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, str] = resp.json()
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def link_key(url: str) -> str:
    assert "/portal/login#key=" in url, url
    return url.split("#key=", 1)[1]


def api_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves, included routers too."""
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, route.path
