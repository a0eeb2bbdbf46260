"""The consumer portal in a real browser: a magic link from the API opens one
application; everything of another application is refused, by page and by API call; a
link works once; read-only hides and refuses writes; it works framed by the one
allowed origin and is refused by any other."""

from __future__ import annotations

from typing import Any

from browser_kit import Guard, Site, page_api, screenshot
from playwright.async_api import Browser, Dialog, Page, expect

from hookline.testing import Receiver


async def portal_link(api: Any, app_id: str, **body: Any) -> str:
    response = await api.client.post(f"/auth/app-portal-access/{app_id}", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["token"] and "#key=" in out["url"]
    return str(out["url"])


async def tenants(api: Any, receiver: Receiver) -> dict[str, Any]:
    """Application A (the customer's) and B (someone else's), each with an endpoint and a
    delivered message."""
    ids: dict[str, Any] = {}
    for name in ("a", "b"):
        app_id = await api.create_app(f"Tenant {name.upper()}")
        endpoint = await api.create_endpoint(
            app_id, receiver.url(f"/{name}"), description=f"{name} orders"
        )
        msg_id = await api.publish(app_id, "order.created", {"tenant": name})
        ids[name] = {"app": app_id, "ep": endpoint["id"], "msg": msg_id}
    await receiver.wait_for(2)
    return ids


async def accept_dialogs(page: Page) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def open_link(page: Page, url: str, base_url: str) -> None:
    await page.goto(url)
    await expect(page).to_have_url(base_url + "/portal/")
    assert "key=" not in page.url


async def test_a_magic_link_opens_one_application_and_nothing_of_another(
    page: Page, browser: Browser, server: Any, api: Any, receiver: Receiver, guard: Guard
) -> None:
    ids = await tenants(api, receiver)
    a, b = ids["a"], ids["b"]
    url = await portal_link(api, a["app"])
    assert url.startswith(server.base_url + "/portal/login#key=")
    await open_link(page, url, server.base_url)
    await expect(page.locator("header .brand")).to_contain_text("Acme Webhooks")
    await expect(page.locator(f"tr[data-endpoint-id='{a['ep']}']")).to_contain_text("a orders")
    await expect(page.locator(f"tr[data-endpoint-id='{b['ep']}']")).to_have_count(0)
    await screenshot(page, "portal-light")
    await page.get_by_role("button", name="Theme").click()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await screenshot(page, "portal-dark")
    await page.get_by_role("button", name="Theme").click()

    # manage an endpoint: add one, then disable it
    await page.get_by_role("textbox", name="URL").fill(receiver.url("/a/new"))
    await page.get_by_role("button", name="Add endpoint").click()
    await page.wait_for_url(f"{server.base_url}/portal/endpoint/ep_*")
    new_id = page.url.rsplit("/", 1)[1]
    await accept_dialogs(page)
    await page.get_by_test_id("disable-endpoint").click()
    await expect(page.locator("[data-status]").first).to_have_attribute("data-status", "disabled")
    got = await api.client.get(f"/app/{a['app']}/endpoint/{new_id}")
    assert got.json()["disabled"] is True

    # every page and every API call about application B: refused, nothing changed
    with guard.expecting(r"status of 40[34]"):
        for path in (f"/portal/endpoint/{b['ep']}", f"/portal/msg/{b['msg']}"):
            response = await page.goto(server.base_url + path)
            assert response is not None and response.status == 404, path
            await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        await page.goto(server.base_url + "/portal/")  # a page of the session's (its CSRF token)
        ep_b = f"/api/v1/app/{b['app']}/endpoint/{b['ep']}"
        calls = [
            ("GET", f"/api/v1/app/{b['app']}/endpoint", None),
            ("GET", ep_b, None),
            ("GET", ep_b + "/secret", None),
            ("PATCH", ep_b, {"disabled": True}),
            ("POST", ep_b + "/secret/rotate", {}),
            ("DELETE", ep_b, None),
            ("POST", f"/api/v1/app/{b['app']}/endpoint", {"url": receiver.url("/x")}),
            ("POST", f"/api/v1/app/{b['app']}/msg", {"eventType": "x", "payload": {}}),
            ("GET", f"/api/v1/app/{b['app']}/msg/{b['msg']}", None),
            ("POST", f"/api/v1/app/{b['app']}/msg/{b['msg']}/endpoint/{b['ep']}/resend", None),
            ("GET", "/api/v1/app", None),
            ("POST", "/api/v1/app", {"name": "mine now"}),
        ]
        for method, path, body in calls:
            answer = await page_api(page, method, path, body)
            assert answer["status"] in (403, 404), (method, path, answer)
        # the operator's dashboard is not the portal's, not even for application A
        for path in ("/ui/", f"/ui/app/{b['app']}/msg/{b['msg']}", f"/ui/app/{a['app']}"):
            await page.goto(server.base_url + path)
            await expect(page).to_have_url(server.base_url + "/ui/login?next=" + path)
    endpoint_b = (await api.client.get(f"/app/{b['app']}/endpoint/{b['ep']}")).json()
    assert endpoint_b["disabled"] is False
    listed = (await api.client.get(f"/app/{b['app']}/endpoint")).json()["data"]
    assert [e["id"] for e in listed] == [b["ep"]]
    assert len(receiver.requests("/b")) == 1  # no resend went out

    # the link worked once: anyone opening it again is refused, even in a fresh browser
    again = await browser.new_context()
    await guard.attach(again)
    try:
        other = await again.new_page()
        with guard.expecting(r"status of 401"):
            await other.goto(url)
            await expect(other.get_by_role("heading", level=1)).to_have_text(
                "This link cannot be used"
            )
        await expect(other.get_by_test_id("portal-login")).to_contain_text("already used")
        assert not [c for c in await again.cookies() if c.get("name") == "hookline_portal"]
    finally:
        await again.close()


async def test_read_only_hides_the_write_controls_and_the_api_refuses_writes(
    page: Page, server: Any, api: Any, receiver: Receiver, guard: Guard
) -> None:
    ids = await tenants(api, receiver)
    a = ids["a"]
    await open_link(page, await portal_link(api, a["app"], readOnly=True), server.base_url)
    await expect(page.locator(f"tr[data-endpoint-id='{a['ep']}']")).to_have_count(1)
    await expect(page.get_by_test_id("add-endpoint")).to_have_count(0)
    await page.goto(f"{server.base_url}/portal/endpoint/{a['ep']}")
    await expect(page.locator("#endpoint-url")).to_have_text(receiver.url("/a"))
    for control in ("disable-endpoint", "delete-endpoint", "rotate-secret", "send-example"):
        await expect(page.get_by_test_id(control)).to_have_count(0)

    ep = f"/api/v1/app/{a['app']}/endpoint/{a['ep']}"
    with guard.expecting(r"status of 403"):
        for method, path, body in (
            ("PATCH", ep, {"disabled": True}),
            ("POST", ep + "/secret/rotate", {}),
            ("POST", f"/api/v1/app/{a['app']}/endpoint", {"url": receiver.url("/a/2")}),
            ("POST", f"/api/v1/app/{a['app']}/msg/{a['msg']}/endpoint/{a['ep']}/resend", None),
        ):
            answer = await page_api(page, method, path, body)
            assert answer["status"] == 403, (method, path, answer)
    reads = await page_api(page, "GET", f"/api/v1/app/{a['app']}/endpoint")
    assert reads["status"] == 200 and [e["id"] for e in reads["body"]["data"]] == [a["ep"]]
    assert (await api.client.get(ep.removeprefix("/api/v1"))).json()["disabled"] is False


async def test_read_only_shows_a_message_without_resend(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    a = (await tenants(api, receiver))["a"]
    await open_link(page, await portal_link(api, a["app"], readOnly=True), server.base_url)
    await page.goto(f"{server.base_url}/portal/msg/{a['msg']}")
    await expect(page.get_by_test_id("attempt")).to_have_count(1)
    await expect(page.get_by_test_id("response-body")).to_be_visible()
    await expect(page.get_by_test_id("resend")).to_have_count(0)


def framing_page(src: str) -> str:
    return (
        "<!doctype html><title>Acme settings</title><h1>Webhooks</h1>"
        f'<iframe id="portal" title="Webhook portal" src="{src}" width="1000" height="600">'
        "</iframe>"
    )


async def test_the_portal_is_framed_by_the_allowed_origin_and_no_other(
    page: Page,
    server: Any,
    api: Any,
    receiver: Receiver,
    embedder: Site,
    stranger: Site,
    guard: Guard,
) -> None:
    ids = await tenants(api, receiver)
    url = await portal_link(api, ids["a"]["app"])
    stranger.pages["/embed"] = framing_page(url)
    embedder.pages["/embed"] = framing_page(url)

    with guard.expecting(r"frame-ancestors|Refused to frame"):
        async with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
            await page.goto(stranger.url("/embed"))
        await page.wait_for_load_state("load")
        await expect(page.frame_locator("#portal").get_by_test_id("portal-login")).to_have_count(0)
    # the refused frame never ran the sign-in, so the link is still good for the SaaS
    await page.goto(embedder.url("/embed"))
    frame = page.frame_locator("#portal")
    row = frame.locator(f"tr[data-endpoint-id='{ids['a']['ep']}']")
    await expect(row).to_contain_text("a orders")
    portal = next(f for f in page.frames if f.url.startswith(server.base_url))
    assert portal.url == server.base_url + "/portal/"
    # the session lives in the frame: its pages and its API calls work there
    await frame.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    await expect(frame.get_by_test_id("message-row")).to_have_count(1)
