"""The message log, the message page with its attempts and a resend, and the live tail,
against real deliveries to a local receiver."""

from __future__ import annotations

from typing import Any

from browser_kit import screenshot, sign_in
from playwright.async_api import Page, expect

from hookline.testing import Receiver


async def final_attempts(api: Any, app_id: str, msg_id: str, count: int) -> list[dict[str, Any]]:
    """Wait for ``count`` attempts of a message; they come newest first."""
    attempts: list[dict[str, Any]] = []

    async def enough() -> bool:
        attempts[:] = await api.attempts_by_msg(app_id, msg_id)
        return len(attempts) >= count

    await api.eventually(enough, timeout=30)
    return attempts


async def test_a_failed_attempt_shows_what_came_back_and_a_resend_adds_one(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    receiver.script("/orders", default=500, body='{"error": "ledger offline", "ref": "LX-42"}')
    app_id = await api.create_app("Storefront")
    endpoint = await api.create_endpoint(app_id, receiver.url("/orders"), description="orders")
    msg_id = await api.publish(app_id, "order.paid", {"order": 1042, "total": "19.99"})
    # the retry schedule is compressed: four attempts, then the delivery has failed
    tries = await final_attempts(api, app_id, msg_id, 4)
    assert {a["responseStatusCode"] for a in tries} == {500}

    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/app/{app_id}/msg/{msg_id}")
    await expect(page.get_by_test_id("msg-event-type")).to_have_text("order.paid")
    await expect(page.get_by_test_id("msg-payload")).to_contain_text('"order": 1042')
    await expect(page.get_by_test_id("delivery-status")).to_have_text(["failed"])
    attempts = page.get_by_test_id("attempt")
    await expect(attempts).to_have_count(4)
    first_failed = attempts.first
    await expect(first_failed.get_by_test_id("attempt-status")).to_have_text("failed")
    await expect(first_failed).to_contain_text("HTTP 500")
    await expect(first_failed.get_by_test_id("response-body")).to_contain_text("ledger offline")
    await expect(first_failed.get_by_test_id("request-body")).to_contain_text('"total"')
    await expect(first_failed.get_by_test_id("request-headers")).to_contain_text("webhook-id")

    receiver.script("/orders", default=200, body="thanks")
    await page.get_by_test_id("resend").click()
    await expect(page.locator("#toast")).to_contain_text("Resend queued")
    # the page polls the API for the new attempt and reloads with it
    await expect(attempts).to_have_count(5, timeout=30_000)
    # a resend is a delivery of its own, next to the failed one
    await expect(page.get_by_test_id("delivery-status")).to_have_text(["failed", "success"])
    newest = page.locator(f"[data-testid=attempt][data-attempt-id='{tries[0]['id']}']")
    await expect(newest).to_have_count(1)  # the old ones are all still there
    await expect(attempts.filter(has_text="thanks").get_by_test_id("attempt-status")).to_have_text(
        "success"
    )
    assert len(receiver.requests("/orders")) == 5
    assert receiver.requests("/orders")[-1].headers["webhook-id"] == msg_id
    await screenshot(page, "message")
    assert endpoint["id"]


async def test_the_message_log_filters_by_event_type_and_by_status(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    receiver.script("/down", default=500, body="maintenance")
    app_id = await api.create_app("Accounts")
    await api.create_endpoint(app_id, receiver.url("/up"), filterTypes=["user.created"])
    await api.create_endpoint(app_id, receiver.url("/down"), filterTypes=["user.deleted"])
    created = [await api.publish(app_id, "user.created", {"n": n}) for n in range(2)]
    deleted = await api.publish(app_id, "user.deleted", {"n": 9})
    for msg_id in created:
        await final_attempts(api, app_id, msg_id, 1)
    await final_attempts(api, app_id, deleted, 4)

    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/app/{app_id}/messages")
    rows = page.get_by_test_id("message-row")
    await expect(rows).to_have_count(3)

    await page.get_by_label("Event type").fill("user.created")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_test_id("message-event-type")).to_have_text(["user.created"] * 2)
    assert sorted(await rows.evaluate_all("rs => rs.map(r => r.dataset.msgId)")) == sorted(created)

    await page.get_by_label("Event type").fill("")
    await page.get_by_label("Status").select_option("failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-msg-id", deleted)
    await expect(rows.first.get_by_test_id("message-status")).to_contain_text("failed")

    await page.get_by_label("Status").select_option("success")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(2)


async def test_the_live_tail_shows_deliveries_as_they_happen_and_pause_holds_them(
    page: Page, server: Any, api: Any, receiver: Receiver
) -> None:
    app_id = await api.create_app("Live feed")
    await api.create_endpoint(app_id, receiver.url("/live"))
    await sign_in(page, server.base_url, server.token)
    await page.goto(f"{server.base_url}/ui/live?app={app_id}")
    await expect(page.get_by_test_id("live-state")).to_have_text("Live")
    rows = page.get_by_test_id("live-row")
    await expect(rows).to_have_count(0)

    await api.publish(app_id, "tail.first", {"n": 1})
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("tail.first")

    await page.get_by_role("button", name="Pause").click()
    await api.publish(app_id, "tail.second", {"n": 2})
    await receiver.wait_for(2, "/live")
    await expect(page.get_by_test_id("live-held")).to_have_text("1 new while paused")
    await expect(rows).to_have_count(1)  # held back

    await page.get_by_role("button", name="Resume").click()
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("tail.second")
