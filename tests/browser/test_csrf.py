"""Cross-site request forgery: a page of another site (or another origin on the same
host) auto-submits forms to the dashboard's actions while the operator is signed in.

``http://localhost:P`` is another site than the server's ``http://127.0.0.1``: the
operator's ``SameSite=Lax`` cookie stays home. ``http://127.0.0.1:P`` is the same site on
another port (another service on the host): the cookie goes along, and only the CSRF
token stops the form."""

from __future__ import annotations

from html import escape
from typing import Any

from browser_kit import Guard, Site, sign_in
from playwright.async_api import Page, expect


def auto_post(action: str, fields: dict[str, str] | None = None) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in (fields or {}).items()
    )
    return (
        "<!doctype html><title>win a prize</title>"
        f'<form id="f" method="post" action="{escape(action)}">{inputs}</form>'
        "<script>document.getElementById('f').submit()</script>"
    )


async def attack(page: Page, url: str, target: str) -> int:
    """Open the attacker's page; its form posts itself; the answer's status."""
    async with page.expect_response(lambda r: r.url.startswith(target)) as answer:
        await page.goto(url)
    response = await answer.value
    await page.wait_for_load_state()
    return response.status


async def test_forms_posted_from_another_site_are_refused_and_the_session_lives_on(
    page: Page, server: Any, api: Any, stranger: Site, guard: Guard, receiver: Any
) -> None:
    app_id = await api.create_app("csrf target")
    endpoint = await api.create_endpoint(app_id, receiver.url("/csrf"))
    secret = await api.endpoint_secret(app_id, endpoint["id"])
    logout = server.base_url + "/ui/logout"
    rotate = f"{server.base_url}/api/v1/app/{app_id}/endpoint/{endpoint['id']}/secret/rotate"
    stranger.pages["/logout"] = auto_post(logout, {"next": "/ui/"})
    stranger.pages["/rotate"] = auto_post(rotate)
    # the same forms served by another port of the server's own host: the same site
    same_site = f"http://127.0.0.1:{stranger.port}"

    await sign_in(page, server.base_url, server.token)
    # (a refused sign-out goes to sign-in, which sends the signed-in operator on to the
    # sign-out's address with a GET: 405)
    with guard.expecting(r"status of 40[135]"):
        for site in (stranger.base_url, same_site):
            status = await attack(page, site + "/rotate", rotate)
            assert status == 401, (site, status)
            await expect(page.locator("body")).to_contain_text("missing bearer token")
            status = await attack(page, site + "/logout", logout)
            if site == same_site:  # the cookie came along: the missing token refuses it
                assert status == 403, status
                await expect(page.locator("body")).to_contain_text("CSRF")
            else:  # no cookie: signing out needs a session, so to the sign-in page
                assert status == 303, status

    assert await api.endpoint_secret(app_id, endpoint["id"]) == secret
    await page.goto(server.base_url + "/ui/")
    await expect(page).to_have_url(server.base_url + "/ui/")  # still signed in
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    assert {"/logout", "/rotate"} <= set(stranger.hits)


async def test_forms_posted_from_another_site_cannot_use_a_portal_session(
    page: Page, server: Any, api: Any, stranger: Site, guard: Guard, receiver: Any
) -> None:
    """The portal's cookie is ``SameSite=None`` (it must work in a frame), so a cross-site
    form carries it: the CSRF token alone refuses the form."""
    app_id = await api.create_app("portal csrf target")
    endpoint = await api.create_endpoint(app_id, receiver.url("/portal-csrf"))
    secret = await api.endpoint_secret(app_id, endpoint["id"])
    access = await api.client.post(f"/auth/app-portal-access/{app_id}", json={})
    await page.goto(access.json()["url"])
    await expect(page).to_have_url(server.base_url + "/portal/")

    logout = server.base_url + "/portal/logout"
    rotate = f"{server.base_url}/api/v1/app/{app_id}/endpoint/{endpoint['id']}/secret/rotate"
    stranger.pages["/portal-logout"] = auto_post(logout)
    stranger.pages["/portal-rotate"] = auto_post(rotate)
    with guard.expecting(r"status of 40[13]"):
        assert await attack(page, stranger.url("/portal-rotate"), rotate) == 401
        assert await attack(page, stranger.url("/portal-logout"), logout) == 403
        await expect(page.locator("body")).to_contain_text("CSRF")

    assert await api.endpoint_secret(app_id, endpoint["id"]) == secret
    await page.goto(server.base_url + "/portal/")
    await expect(page.locator(f"tr[data-endpoint-id='{endpoint['id']}']")).to_have_count(1)
