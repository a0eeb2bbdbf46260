"""The overview and the endpoint page against real deliveries: an endpoint fails, shows on
the overview, is repaired and resent; a secret is rotated and a test event sent."""

from __future__ import annotations

import json
from typing import Any

from browser_kit import screenshot, sign_in
from playwright.async_api import Dialog, Page, expect
from standardwebhooks import Webhook

from hookline.testing import Receiver


async def seed(api: Any, receiver: Receiver) -> None:
    """A few applications with healthy endpoints and traffic, so the pages (and their
    screenshots) show real numbers and bars."""
    for name, types in (
        ("Payments", ["invoice.paid", "invoice.voided"]),
        ("CRM", ["contact.added"]),
    ):
        app_id = await api.create_app(name)
        for n in range(2):
            await api.create_endpoint(app_id, receiver.url(f"/{name.lower()}/{n}"))
        for n in range(6):
            await api.publish(app_id, types[n % len(types)], {"n": n, "amount": 100 + n})


async def reload_until(page: Page, check: Any, tries: int = 20) -> None:
    """Some numbers come from the database on each load: reload until they show."""
    for _ in range(tries):
        if await check():
            return
        await page.wait_for_timeout(500)
        await page.reload()
    assert await check()


async def test_an_endpoint_fails_then_recovers_on_the_overview(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    await seed(api, receiver)
    receiver.script("/shipping", default=500, body='{"error": "warehouse down"}')
    app_id = await api.create_app("Logistics")
    endpoint = await api.create_endpoint(app_id, receiver.url("/shipping"), description="shipping")
    msg_id = await api.publish(app_id, "parcel.sent", {"parcel": "P-7"})
    await receiver.wait_for(4, "/shipping")  # the compressed schedule: four tries, then failed
    await receiver.wait_for(12, None)

    await sign_in(page, server.base_url, server.token)
    row = page.locator(f"#failing-endpoints tr[data-endpoint-id='{endpoint['id']}']")

    async def failing() -> bool:
        return await row.count() == 1 and "4" in await row.locator("td").nth(2).inner_text()

    await reload_until(page, failing)
    await expect(row).to_contain_text("Failing")
    await expect(row).to_contain_text("HTTP 500")
    await page.get_by_role("link", name="Last hour").click()  # one-minute bars
    await expect(page).to_have_url(server.base_url + "/ui/?range=hour")
    await expect(page.locator("[data-testid=chart-outcomes] canvas")).to_have_count(1)  # drawn
    spec = await page.locator("script#chart-outcomes").text_content()
    bars = json.loads(spec or "{}")["series"]
    assert sum(sum(s["values"]) for s in bars) >= 16, bars  # the seeded traffic is in it
    await screenshot(page, "overview")

    await row.get_by_role("link").click()
    await expect(page.locator("#endpoint-url")).to_have_text(receiver.url("/shipping"))
    await expect(page.get_by_test_id("stat-success-rate")).to_contain_text("0.0%")

    receiver.script("/shipping", default=200, body="ok")
    await page.goto(f"{server.base_url}/ui/app/{app_id}/msg/{msg_id}")
    await page.get_by_test_id("resend").click()
    await expect(page.get_by_test_id("attempt")).to_have_count(5, timeout=30_000)

    await page.goto(server.base_url + "/ui/")

    async def recovered() -> bool:
        return await row.count() == 1 and await row.locator("td").nth(3).inner_text() == "1"

    await reload_until(page, recovered)
    await row.get_by_role("link").click()
    await page.get_by_role("link", name="Last hour").click()
    await expect(page.get_by_test_id("stat-success-rate")).to_contain_text("20.0%")  # 1 of 5
    await screenshot(page, "endpoint")


async def test_rotating_a_secret_and_sending_a_test_event(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    app_id = await api.create_app("Secrets")
    endpoint = await api.create_endpoint(app_id, receiver.url("/signed"))
    old = await api.endpoint_secret(app_id, endpoint["id"])
    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/app/{app_id}/endpoint/{endpoint['id']}")

    secret = page.get_by_test_id("secret-value")
    await expect(secret).not_to_contain_text("whsec_")  # hidden until asked for
    await page.get_by_test_id("reveal-secret").click()
    await expect(secret).to_have_text(old)

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await page.get_by_test_id("rotate-secret").click()
    await expect(page.locator("#toast")).to_contain_text("Secret rotated")
    await expect(secret).not_to_contain_text("whsec_")
    await page.get_by_test_id("reveal-secret").click()
    await expect(secret).to_contain_text("whsec_")
    new = (await secret.inner_text()).strip()
    assert new != old
    assert new == await api.endpoint_secret(app_id, endpoint["id"])

    form = page.get_by_test_id("send-example")
    await form.get_by_label("Event type").fill("svix.ping")
    await form.get_by_role("button", name="Send test event").click()
    await expect(page.get_by_test_id("example-result")).to_contain_text("Sent svix.ping")
    [delivered] = await receiver.wait_for(1, "/signed")
    assert delivered.json() == {"success": True}  # Svix's ping
    shown = await page.get_by_test_id("example-result").inner_text()
    assert f"as message {delivered.headers['webhook-id']}." in shown
    Webhook(new).verify(delivered.body, dict(delivered.headers))  # signed with the new one
