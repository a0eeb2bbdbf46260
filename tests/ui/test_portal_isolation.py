"""Every page of the portal, for a session of application A, shows nothing of B.

The portal's routes are walked from the mounted sub-application, so a page added later
is covered too: with B's objects in its path it answers 403/404; without, it shows
none of B's objects, even when B's ids are passed as query parameters; its forms
refuse a post without the session's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from portal_kit import TOKEN, _app, _client, _grant, _redeem, opened_store
from starlette.routing import Mount

from hookline.store.base import Store


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    async with opened_store(tmp_path, database_url) as opened:
        yield opened


def _portal_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == "/portal"]
    assert len(mounts) == 1
    portal = mounts[0].app
    assert isinstance(portal, FastAPI)
    for route in iter_route_contexts(portal.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                yield method, "/portal" + route.path


def _guess(param: str, b: dict[str, str]) -> str:
    """B's object for a path parameter, by its name."""
    for hint, key in (
        ("attempt", "attempt"),
        ("msg", "msg"),
        ("message", "msg"),
        ("endpoint", "ep"),
        ("ep", "ep"),
        ("task", "task"),
        ("app", "app"),
        ("event", "event_type"),
    ):
        if hint in param:
            return b[key]
    return b["ep"]


async def _b_world(admin: httpx.AsyncClient) -> dict[str, str]:
    await _grant(admin, "alpha")
    mine = await admin.post(
        "/api/v1/app/alpha/endpoint", json={"url": "https://example.com/a-hook"}
    )
    assert mine.status_code == 201, mine.text
    app = await admin.post("/api/v1/app", json={"name": "Beta Corp", "uid": "beta"})
    ep = await admin.post(
        "/api/v1/app/beta/endpoint",
        json={"url": "https://example.com/b-hook", "description": "beta-secret-endpoint"},
    )
    await admin.post("/api/v1/event-type", json={"name": "beta.only", "description": "d"})
    msg = await admin.post(
        "/api/v1/app/beta/msg", json={"eventType": "beta.only", "payload": {"beta": "payload-b"}}
    )
    task = await admin.post(
        f"/api/v1/app/beta/endpoint/{ep.json()['id']}/recover",
        json={"since": "2020-01-01T00:00:00Z"},
    )
    secret = await admin.get(f"/api/v1/app/beta/endpoint/{ep.json()['id']}/secret")
    return {
        "app": app.json()["id"],
        "ep": ep.json()["id"],
        "msg": msg.json()["id"],
        "task": task.json()["id"],
        "attempt": "atmpt_0000000000000000000000000",
        "event_type": "beta.only",
        "secret": secret.json()["key"],
    }


def _leaks(resp: httpx.Response, b: dict[str, str]) -> list[str]:
    """B's data in a page, other than what the request itself named (a page may echo
    a filter's value or the id it did not find)."""
    asked = str(resp.request.url)
    marks = [b["app"], b["ep"], b["msg"], b["secret"], "Beta Corp", "b-hook"]
    marks += ["beta-secret-endpoint", "payload-b"]
    return [m for m in marks if m in resp.text and m not in asked]


async def _state(admin: httpx.AsyncClient, b: dict[str, str]) -> Any:
    out = []
    for path in (
        "/api/v1/app",
        "/api/v1/app/beta/endpoint",
        f"/api/v1/app/beta/endpoint/{b['ep']}/secret",
        "/api/v1/app/alpha/endpoint",
        "/api/v1/app/beta/msg",
    ):
        out.append((await admin.get(path)).json())
    return out


async def test_no_portal_page_shows_or_changes_another_application(store: Store) -> None:
    app = _app(store)
    async with _client(app, Authorization=f"Bearer {TOKEN}") as admin, _client(app) as browser:
        b = await _b_world(admin)
        key = await _grant(admin, "alpha")
        assert (await _redeem(browser, key)).status_code == 200
        before = await _state(admin, b)
        walked = 0
        for method, template in _portal_routes(app):
            params = re.findall(r"{(\w+)", template)
            path = re.sub(r"{(\w+)(:\w+)?}", lambda m: _guess(m.group(1), b), template)
            query = {
                "app_id": b["app"],
                "app": b["app"],
                "endpoint": b["ep"],
                "endpoint_id": b["ep"],
                "msg": b["msg"],
                "msg_id": b["msg"],
            }
            walked += 1
            if method == "GET":
                resp = await browser.get(path, params=query)
                if params:
                    assert resp.status_code in (403, 404), (template, resp.status_code)
                else:
                    assert resp.status_code < 500, (template, resp.status_code)
                assert not _leaks(resp, b), (template, _leaks(resp, b))
            else:
                # a cross-site form: no CSRF token
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Origin": "https://evil.example",
                }
                resp = await browser.request(method, path, content="x=1", headers=headers)
                assert resp.status_code in (401, 403, 404, 405, 415), (template, resp.status_code)
        assert walked >= 4
        assert await _state(admin, b) == before
        # the walk was signed in, and nothing above signed it out
        if ("GET", "/portal/") in _portal_routes(app):
            own = await browser.get("/portal/")
            assert own.status_code == 200 and "a-hook" in own.text
            assert 'data-testid="portal-sign-out"' in own.text


async def test_portal_pages_refuse_an_operator_and_no_session(store: Store) -> None:
    """A page behind the customer's session answers 401 without one."""
    app = _app(store)
    async with _client(app) as anonymous:
        for method, template in _portal_routes(app):
            if method != "GET" or template in ("/portal/login", "/portal/theme.css"):
                continue
            path = re.sub(r"{(\w+)(:\w+)?}", "x", template)
            resp = await anonymous.get(path)
            assert resp.status_code == 401, (template, resp.status_code)
