"""The operator's sign-in: the admin token buys a session cookie; the form is guarded
against cross-site posts; the session opens pages and the API (with its CSRF token) and
ends at sign-out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from ui_kit import BASE, TOKEN, build_app, sign_in, store

from hookline.access import token_hash
from hookline.models import AccessKind
from hookline.store.base import Store

__all__ = ["store"]  # the fixture


@pytest.fixture
async def browser(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on the real app, with no Authorization header."""
    transport = httpx.ASGITransport(app=build_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        yield c


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" (?:value|content)="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


async def test_pages_send_a_visitor_without_a_session_to_sign_in(
    browser: httpx.AsyncClient,
) -> None:
    answer = await browser.get("/ui/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui/"


async def test_the_admin_token_starts_a_session_that_opens_pages_and_the_api(
    browser: httpx.AsyncClient, store: Store
) -> None:
    answer = await sign_in(browser)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert "hookline_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    session = browser.cookies["hookline_session"]
    # the store keeps the hash only
    assert await store.find_access_token(token_hash(session), AccessKind.SESSION, 0)

    page = await browser.get("/ui/")
    assert page.status_code == 200
    csrf = field(page.text, "csrf-token")
    assert (await browser.get("/api/v1/app", headers={"X-CSRF-Token": csrf})).status_code == 200
    # the cookie alone is not a credential for the API: a cross-site request lacks the token
    assert (await browser.get("/api/v1/app")).status_code == 401
    wrong = {"X-CSRF-Token": "0" * 64}
    assert (await browser.get("/api/v1/app", headers=wrong)).status_code == 401


async def test_a_wrong_token_is_refused_and_starts_nothing(browser: httpx.AsyncClient) -> None:
    answer = await sign_in(browser, token="not-the-token")
    assert answer.status_code == 401
    assert "That token is not valid." in answer.text
    assert "hookline_session" not in browser.cookies


async def test_a_sign_in_post_without_the_form_token_is_refused(
    browser: httpx.AsyncClient,
) -> None:
    """A cross-site form cannot read the form's token, nor send the cookie it pairs with."""
    answer = await browser.post("/ui/login", data={"token": TOKEN, "csrf_token": "guess"})
    assert answer.status_code == 403
    assert "hookline_session" not in browser.cookies


async def test_sign_in_never_redirects_off_the_dashboard(browser: httpx.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/api/v1/app", "/ui/logout"):
        browser.cookies.clear()
        page = await browser.get("/ui/login")
        form = {"csrf_token": field(page.text, "csrf_token"), "token": TOKEN, "next": target}
        answer = await browser.post("/ui/login", data=form)
        assert answer.headers["location"] == "/ui/"


async def test_sign_out_ends_the_session_for_pages_and_the_api(
    browser: httpx.AsyncClient,
) -> None:
    await sign_in(browser)
    session = browser.cookies["hookline_session"]
    csrf = field((await browser.get("/ui/")).text, "csrf-token")

    refused = await browser.post("/ui/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert (await browser.get("/ui/")).status_code == 200

    answer = await browser.post("/ui/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/login"
    # the old cookie, replayed, opens nothing
    browser.cookies.set("hookline_session", session)
    assert (await browser.get("/ui/")).status_code == 303
    assert (await browser.get("/api/v1/app", headers={"X-CSRF-Token": csrf})).status_code == 401


async def test_pages_forbid_framing_and_inline_script(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/ui/login")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_idempotency_keys_of_two_sessions_never_meet(store: Store) -> None:
    """A page's call has no Authorization header: its session is what the key is scoped
    to, so one person's key never replays another's answer."""
    app = build_app(store)
    created = []
    for name in ("first", "second"):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as person:
            await sign_in(person)
            csrf = field((await person.get("/ui/")).text, "csrf-token")
            headers = {"X-CSRF-Token": csrf, "Idempotency-Key": "same-key"}
            answer = await person.post("/api/v1/app", json={"name": name}, headers=headers)
            assert answer.status_code == 201, answer.text
            assert "idempotent-replayed" not in answer.headers
            created.append(answer.json()["name"])
    assert created == ["first", "second"]
