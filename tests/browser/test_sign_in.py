"""The operator's sign-in and sign-out in a real browser, with the keyboard alone too."""

from __future__ import annotations

from typing import Any

from browser_kit import low_contrast, page_api, session_cookie, sign_in
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect


async def test_a_wrong_token_is_refused_and_the_right_one_signs_in(
    page: Page, server: Any, guard: Any
) -> None:
    await page.goto(server.base_url + "/ui/")
    await expect(page).to_have_url(server.base_url + "/ui/login?next=/ui/")
    await page.get_by_label("Admin token").fill("not-" + server.token)
    with guard.expecting(r"status of 401"):
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("That token is not valid.")
    assert page.url.startswith(server.base_url + "/ui/login")
    assert not [c for c in await page.context.cookies() if c.get("name") == "hookline_session"]

    await page.get_by_label("Admin token").fill(server.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(server.base_url + "/ui/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    cookie = next(c for c in await page.context.cookies() if c.get("name") == "hookline_session")
    assert cookie.get("httpOnly") is True and cookie.get("sameSite") in ("Lax", "Strict")
    # the page's own API calls go through with the session and its CSRF token
    apps = await page_api(page, "GET", "/api/v1/app")
    assert apps["status"] == 200, apps


async def test_sign_out_ends_the_session_for_the_back_button_and_the_old_cookie(
    page: Page, context: BrowserContext, browser: Browser, server: Any, guard: Any
) -> None:
    await sign_in(page, server.base_url, server.token)
    old = await session_cookie(context)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(server.base_url + "/ui/login")

    await page.go_back()  # the overview again: it asks the server, which sends to sign-in
    await expect(page).to_have_url(server.base_url + "/ui/login?next=/ui/")
    await expect(page.get_by_label("Admin token")).to_be_visible()

    # the cookie kept from before signing out opens nothing: not a page, not the API
    replay = await browser.new_context()
    await guard.attach(replay)
    try:
        await replay.add_cookies(
            [{"name": "hookline_session", "value": old, "url": server.base_url}]
        )
        stale = await replay.new_page()
        await stale.goto(server.base_url + "/ui/")
        await expect(stale).to_have_url(server.base_url + "/ui/login?next=/ui/")
        with guard.expecting(r"status of 401"):
            answer = await page_api(stale, "GET", "/api/v1/app")
        assert answer["status"] == 401, answer
    finally:
        await replay.close()


async def test_the_keyboard_alone_signs_in_and_signs_out(page: Page, server: Any) -> None:
    await page.goto(server.base_url + "/ui/login")
    # the token field has the focus; typing and Enter submit the form
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await page.keyboard.type(server.token)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(server.base_url + "/ui/")

    # Tab reaches the skip link first, then every control; Sign out is among them
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    sign_out = page.get_by_role("button", name="Sign out")
    for _ in range(30):
        if await sign_out.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(sign_out).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(server.base_url + "/ui/login")


async def test_the_keyboard_alone_disables_an_endpoint(
    page: Page, server: Any, api: Any, receiver: Any
) -> None:
    app_id = await api.create_app("Keyboard")
    endpoint = await api.create_endpoint(app_id, receiver.url("/keys"))
    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/app/{app_id}/endpoint/{endpoint['id']}")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    disable = page.get_by_role("button", name="Disable")
    for _ in range(80):  # Tab from the top of the page to the action, as a person would
        await page.keyboard.press("Tab")
        if await disable.evaluate("el => el === document.activeElement"):
            break
    await expect(disable).to_be_focused()
    outline = await disable.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none", "the focused button shows no focus ring"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Enable")).to_be_visible()
    got = await api.client.get(f"/app/{app_id}/endpoint/{endpoint['id']}")
    assert got.json()["disabled"] is True


READABLE = [
    "body",
    "header nav a",
    "header nav a[aria-current=page]",
    ".ranges a",
    "main a",
    "button",
    "h1",
    "td",
]


async def test_text_is_readable_in_both_themes(page: Page, server: Any, api: Any) -> None:
    """WCAG AA contrast for the navigation, links, buttons and tables, light and dark,
    on the dashboard and on the portal with its brand colour."""
    app_id = await api.create_app("Contrast")
    access = await api.client.post(f"/auth/app-portal-access/{app_id}", json={})
    pages = [server.base_url + "/ui/", server.base_url + "/ui/apps"]
    await sign_in(page, server.base_url, server.token)
    problems: list[str] = []
    for theme in ("light", "dark"):
        await page.evaluate("theme => window.hl.setTheme(theme)", theme)
        for url in pages:
            await page.goto(url)
            await expect(page.locator("html")).to_have_attribute("data-theme", theme)
            problems += [f"{theme} {url} {p}" for p in await low_contrast(page, READABLE)]
    portal = await page.context.new_page()
    await portal.goto(access.json()["url"])
    await expect(portal).to_have_url(server.base_url + "/portal/")
    await portal.wait_for_function("() => window.hl && window.hl.setTheme")
    for theme in ("light", "dark"):
        await portal.evaluate("theme => window.hl.setTheme(theme)", theme)
        problems += [f"{theme} portal {p}" for p in await low_contrast(portal, READABLE)]
    assert not problems, "\n".join(problems)


async def test_the_edit_form_clears_filters_and_limits_it_leaves_empty(
    page: Page, server: Any, api: Any, receiver: Any
) -> None:
    app_id = await api.create_app("Editing")
    endpoint = await api.create_endpoint(
        app_id, receiver.url("/edit"), filterTypes=["invoice.paid"], channels=["eu"], rateLimit=5
    )
    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/app/{app_id}/endpoint/{endpoint['id']}")
    form = page.locator("#edit-endpoint")
    for field in ("Event types (comma-separated)", "Channels (comma-separated)"):
        await form.get_by_label(field, exact=True).fill("")
    await form.get_by_label("Rate limit (per second)").fill("")
    await form.get_by_label("Description").fill("every event now")
    await form.get_by_role("button", name="Save").click()
    await expect(page.locator("#edit-description")).to_have_value("every event now")
    got = (await api.client.get(f"/app/{app_id}/endpoint/{endpoint['id']}")).json()
    assert got["description"] == "every event now"
    assert got.get("filterTypes") is None and got.get("channels") is None
    assert got.get("rateLimit") is None
