"""The consumer portal's sign-in (a single-use magic link), sign-out, CSRF, branding and
framing, against the real app (API plus the mounted pages) on a real store."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from portal_kit import (
    EMBEDDER,
    REFUSED,
    SAME,
    TOKEN,
    _app,
    _client,
    _csrf,
    _grant,
    _redeem,
    opened_store,
)

from hookline.access import token_hash
from hookline.ids import new_id
from hookline.models import AccessKind, AccessToken
from hookline.store.base import Store
from hookline.ui.theme import contrast, parse_hex


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    async with opened_store(tmp_path, database_url) as opened:
        yield opened


@pytest.fixture
async def admin(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(_app(store), Authorization=f"Bearer {TOKEN}") as c:
        yield c


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client with no credential of its own."""
    async with _client(_app(store)) as c:
        yield c


async def test_login_page_has_no_inline_code(browser: httpx.AsyncClient) -> None:
    resp = await browser.get("/portal/login")
    assert resp.status_code == 200
    assert '<script src="/ui/static/portal-login.js" defer></script>' in resp.text
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", resp.text)
    assert " style=" not in resp.text and " onclick=" not in resp.text
    js = await browser.get("/ui/static/portal-login.js")
    assert js.status_code == 200
    for needed in ("location.hash", "history.replaceState", '"/portal/session"'):
        assert needed in js.text


async def test_a_link_works_once_and_starts_the_grants_session(
    admin: httpx.AsyncClient, browser: httpx.AsyncClient, store: Store
) -> None:
    key = await _grant(
        admin, capabilities=["ManageEndpoint"], readOnly=True, expiry=7200, sessionId="u_1"
    )
    link = await store.find_access_token(token_hash(key), AccessKind.PORTAL_LINK, 0)
    resp = await _redeem(browser, key)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"redirect": "/portal/"}
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith("hookline_portal=")
    for attribute in ("HttpOnly", "Secure", "SameSite=none", "Partitioned", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    session = await store.find_access_token(
        token_hash(browser.cookies["hookline_portal"]), AccessKind.SESSION, int(time.time() * 1000)
    )
    assert session is not None and link is not None
    assert session.app_id == link.app_id
    assert session.capabilities == ["ManageEndpoint", "ViewBase"]
    assert session.read_only is True and session.label == "u_1"
    assert session.expires_at == link.expires_at and session.grant_id == link.grant_id
    # the session is the API credential of the portal's pages
    headers = {"X-CSRF-Token": await _csrf(browser)}
    assert (await browser.get("/api/v1/app/alpha/endpoint", headers=headers)).status_code == 200
    refused = await browser.post(
        "/api/v1/app/alpha/endpoint", json={"url": "https://example.com/x"}, headers=headers
    )
    assert refused.status_code == 403  # read-only
    again = await _redeem(browser, key)
    assert again.status_code == 401 and again.json()["detail"] == REFUSED


async def test_expired_and_unknown_links_are_refused(
    admin: httpx.AsyncClient, browser: httpx.AsyncClient, store: Store
) -> None:
    await _grant(admin)
    app = (await admin.get("/api/v1/app/alpha")).json()["id"]
    now = int(time.time() * 1000)
    await store.create_access_tokens(
        [
            AccessToken(
                id=new_id("plink", now),
                kind=AccessKind.PORTAL_LINK,
                token_hash=token_hash("stale-key"),
                app_id=app,
                capabilities=["ViewBase"],
                read_only=False,
                created_at=now - 7200_000,
                expires_at=now - 1,
            )
        ]
    )
    for key in ("stale-key", "never-issued"):
        resp = await _redeem(browser, key)
        assert resp.status_code == 401 and resp.json()["detail"] == REFUSED
    assert "hookline_portal" not in browser.cookies
    for body in ({}, {"key": 5}, {"key": ""}, ["x"]):
        resp = await browser.post("/portal/session", json=body, headers=SAME)
        assert resp.status_code == 400, resp.text


async def test_expire_all_ends_links_and_live_sessions(
    admin: httpx.AsyncClient, store: Store
) -> None:
    app = _app(store)
    keys = {s: await _grant(admin, sessionId=s) for s in ("u_1", "u_2", "u_3")}
    unused = await _grant(admin, sessionId="u_1")
    sessions = {}
    for s in ("u_1", "u_2", "u_3"):
        c = _client(app)
        assert (await _redeem(c, keys[s])).status_code == 200
        sessions[s] = c

    async def alive(c: httpx.AsyncClient) -> bool:
        resp = await c.get("/api/v1/app/alpha", headers={"X-CSRF-Token": await _csrf(c)})
        assert resp.status_code in (200, 401), resp.text
        return resp.status_code == 200

    assert all([await alive(c) for c in sessions.values()])
    resp = await admin.post("/api/v1/auth/app/alpha/expire-all", json={"sessionIds": ["u_1"]})
    assert resp.status_code == 204
    assert [await alive(c) for c in sessions.values()] == [False, True, True]
    async with _client(app) as c:
        assert (await _redeem(c, unused)).status_code == 401
    assert (await admin.post("/api/v1/auth/app/alpha/expire-all", json={})).status_code == 204
    assert [await alive(c) for c in sessions.values()] == [False, False, False]
    for c in sessions.values():
        await c.aclose()


async def test_api_calls_with_the_session_need_its_csrf_token(
    admin: httpx.AsyncClient, store: Store
) -> None:
    app = _app(store)
    async with _client(app) as one, _client(app) as two:
        assert (await _redeem(one, await _grant(admin))).status_code == 200
        assert (await _redeem(two, await _grant(admin))).status_code == 200
        path = "/api/v1/app/alpha/endpoint"
        body = {"url": "https://example.com/x"}
        assert (await one.post(path, json=body)).status_code == 401
        other = {"X-CSRF-Token": await _csrf(two)}
        assert (await one.post(path, json=body, headers=other)).status_code == 401
        listed = await admin.get(path)
        assert listed.json()["data"] == []
        own = {"X-CSRF-Token": await _csrf(one)}
        assert (await one.post(path, json=body, headers=own)).status_code == 201


async def test_cross_site_posts_are_refused(admin: httpx.AsyncClient, store: Store) -> None:
    app = _app(store)
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    form = {"Content-Type": "application/x-www-form-urlencoded", **evil}
    async with _client(app) as c:
        key = await _grant(admin)
        # a form (or a cross-site fetch) cannot redeem a link: login CSRF
        assert (
            await c.post("/portal/session", content=f"key={key}", headers=form)
        ).status_code == 403
        resp = await c.post("/portal/session", json={"key": key}, headers=evil)
        assert resp.status_code == 403
        plain = {"Content-Type": "text/plain", **SAME}
        assert (
            await c.post("/portal/session", content=f'{{"key":"{key}"}}', headers=plain)
        ).status_code == 415
        assert "hookline_portal" not in c.cookies
        assert (await _redeem(c, key)).status_code == 200  # the link was not used up
        # a form without the CSRF token does not sign the customer out
        assert (await c.post("/portal/logout", content="", headers=form)).status_code == 403
        assert (
            await c.get("/api/v1/app/alpha", headers={"X-CSRF-Token": await _csrf(c)})
        ).is_success
    async with _client(app) as op:
        page = await op.get("/ui/login")
        login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert login_csrf is not None
        signed = await op.post(
            "/ui/login",
            data={"csrf_token": login_csrf.group(1), "token": TOKEN, "next": "/ui/"},
        )
        assert signed.status_code == 303
        assert (await op.post("/ui/logout", content="", headers=form)).status_code == 403
        assert (await op.get("/ui/")).status_code == 200  # still signed in
        # and a sign-in form posted from elsewhere (no login cookie) is refused
    async with _client(app) as other:
        resp = await other.post("/ui/login", content=f"token={TOKEN}", headers=form)
        assert resp.status_code == 403 and "hookline_session" not in other.cookies


async def test_sign_out_ends_the_session(
    admin: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    assert (await _redeem(browser, await _grant(admin))).status_code == 200
    csrf = await _csrf(browser)
    old = browser.cookies["hookline_portal"]
    resp = await browser.post("/portal/logout", data={"csrf_token": csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/portal/login?signed_out=true"
    assert "hookline_portal" not in browser.cookies
    gone = await browser.get(
        "/api/v1/app/alpha", headers={"X-CSRF-Token": csrf, "Cookie": f"hookline_portal={old}"}
    )
    assert gone.status_code == 401
    page = await browser.get("/portal/login?signed_out=true")
    assert "You have signed out" in page.text


async def test_api_logout_ends_the_session(
    admin: httpx.AsyncClient, browser: httpx.AsyncClient
) -> None:
    assert (await _redeem(browser, await _grant(admin))).status_code == 200
    headers = {"X-CSRF-Token": await _csrf(browser)}
    assert (await browser.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await browser.get("/api/v1/app/alpha", headers=headers)).status_code == 401


async def test_frame_ancestors(browser: httpx.AsyncClient) -> None:
    def ancestors(resp: httpx.Response) -> str:
        found = re.search(r"frame-ancestors ([^;]*)", resp.headers["content-security-policy"])
        assert found is not None
        return found.group(1).strip()

    for path in ("/portal/login", "/portal/no-such-page", "/portal/theme.css"):
        assert ancestors(await browser.get(path)) == EMBEDDER, path
    for path in ("/ui/login", "/ui/no-such-page"):
        assert ancestors(await browser.get(path)) == "'none'", path


def _variables(css: str, selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r"\s*{([^}]*)}", css)
    assert block is not None, css
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-f]{6})", block.group(1)))


@pytest.mark.parametrize("color", ["#4f46e5", "#ffcc00", "#0a0a0a", "#7fbf7f"])
async def test_theme_css_keeps_the_brand_colour_readable(store: Store, color: str) -> None:
    async with _client(_app(store, color)) as c:
        resp = await c.get("/portal/theme.css")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/css")
    light = _variables(resp.text, ":root ")
    dark = _variables(resp.text, ':root[data-theme="dark"]')
    for theme, surface in ((light, "#ffffff"), (dark, "#181a24")):
        primary, on = parse_hex(theme["--primary"]), parse_hex(theme["--on-primary"])
        assert contrast(primary, parse_hex(surface)) >= 4.5, (color, theme)
        assert contrast(on, primary) >= 4.5, (color, theme)
    if color == "#4f46e5":
        assert light == {"--primary": "#4f46e5", "--on-primary": "#ffffff"}
