"""The endpoint page, for the operator and in the portal: its numbers and charts from
real traffic, its settings with credentials hidden, controls shown only as the viewer's
capabilities allow, and other applications' endpoints answered with a 404 page."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from dash_kit import (
    Page,
    Site,
    deliver,
    make_app,
    make_endpoint,
    parse,
    portal_session,
    publish,
    sign_in,
    site,
)

# every control of the endpoint page, by test id, and the capability that shows it
CONTROLS = {
    "reveal-secret": "ViewEndpointSecret",
    "rotate-secret": "ManageEndpointSecret",
    "disable-endpoint": "ManageEndpoint",
    "delete-endpoint": "ManageEndpoint",
    "edit-endpoint": "ManageEndpoint",
    "send-example": "CreateAttempts",
    "recover": "CreateAttempts",
    "bulk-replay": "CreateAttempts",
}


def chart(page: Page, id_: str) -> dict:  # type: ignore[type-arg]
    found = [e for e in page.elements if e.tag == "script" and e.attrs.get("id") == id_]
    assert len(found) == 1, id_
    spec: dict = json.loads(found[0].text)  # type: ignore[type-arg]
    return spec


def shown(page: Page) -> set[str]:
    return {e.attrs["data-testid"] for e in page.having("data-testid")} & set(CONTROLS)


@asynccontextmanager
async def shop(tmp_path: Path) -> AsyncIterator[tuple[Site, str, str, str]]:
    """App "shop" with endpoint A (4 attempts: 10, 20, 30 ms ok, 1 failed at 400 ms,
    custom headers, FIFO, a rate limit) and a second app with endpoint X."""
    async with site(tmp_path) as s:
        app = await make_app(s.store, "shop")
        a = await make_endpoint(
            s.store,
            app,
            "https://user:url-password-value@127.0.0.1:9/a",
            description="orders in",
            event_types=["order.paid"],
            channels=["eu"],
            rate_limit=7,
            fifo=True,
            headers={
                "X-Plain": "visible",
                "Authorization": "Bearer sekrit",
                "X-Api-Key": "api-key-value",
            },
            metadata={"team": "billing"},
        )
        other = await make_app(s.store, "other")
        x = await make_endpoint(s.store, other, "http://127.0.0.1:9/x")
        await publish(s.store, app, "order.paid", 4, channels=["eu"])
        await deliver(s.store, {a.id: [(True, 10), (True, 20), (True, 30), (False, 400)]})
        yield s, app.id, a.id, x.id


async def test_operator_endpoint_page_numbers_settings_and_controls(tmp_path: Path) -> None:
    async with shop(tmp_path) as (s, app_id, a, x), s.client() as client:
        await sign_in(client)
        resp = await client.get(f"/ui/app/{app_id}/endpoint/{a}?range=hour")
        assert resp.status_code == 200, resp.text
        page = parse(resp.text)
        assert page.text("stat-success-rate") == "75.0%"
        assert (page.text("stat-succeeded"), page.text("stat-failed")) == ("3", "1")
        assert page.text("stat-deliveries") == "4"
        assert page.text("endpoint-url") == "https://***@127.0.0.1:9/a"
        for secret in ("url-password-value", "sekrit", "api-key-value"):
            assert secret not in resp.text
        headers = page.text("endpoint-headers")
        assert "X-Plain: visible" in headers and "Authorization: ••••" in headers
        assert page.text("endpoint-rate-limit") == "7/s"
        assert page.text("endpoint-fifo") == "yes"
        assert page.text("endpoint-channels") == "eu"
        assert page.text("endpoint-event-types") == "order.paid"
        assert page.text("endpoint-metadata") == "team=billing"
        outcomes = chart(page, "chart-outcomes")
        assert len(outcomes["x"]) == 60
        assert [sum(v["values"]) for v in outcomes["series"]] == [3, 1]
        latency = chart(page, "chart-latency")
        p50 = [v for v in latency["series"][0]["values"] if v is not None]
        p95 = [v for v in latency["series"][1]["values"] if v is not None]
        assert len(p50) == 1 and len(p95) == 1 and p50[0] <= 30 < 400 <= p95[0] * 1.5
        assert shown(page) == set(CONTROLS)  # the operator may do everything
        messages = page.by_id("endpoint-messages")
        assert messages is not None
        assert messages.attrs["href"] == f"/ui/app/{app_id}/messages?endpoint={a}"
        api = f"/api/v1/app/{app_id}/endpoint/{a}"
        buttons = {e.attrs["data-testid"]: e.attrs for e in page.having("data-api")}
        assert buttons["reveal-secret"]["data-api"] == f"GET {api}/secret"
        assert buttons["rotate-secret"]["data-api"] == f"POST {api}/secret/rotate"
        assert buttons["disable-endpoint"]["data-body"] == '{"disabled": true}'
        forms = {e.attrs["id"]: e.attrs["data-api-form"] for e in page.having("data-api-form")}
        assert forms["send-example"] == f"POST {api}/send-example"
        assert forms["recover"] == f"POST {api}/recover"
        assert forms["bulk-replay"] == f"POST {api}/bulk-replay"
        assert forms["edit-endpoint"] == f"PATCH {api}"
        # the week: 28 bars of 6 h, the same attempts
        week = parse((await client.get(f"/ui/app/{app_id}/endpoint/{a}?range=week")).text)
        assert len(chart(week, "chart-outcomes")["x"]) == 28
        assert week.text("stat-success-rate") == "75.0%"
        # another application's endpoint under this one: a 404 page, not the endpoint
        wrong = await client.get(f"/ui/app/{app_id}/endpoint/{x}")
        assert wrong.status_code == 404 and "Not found" in wrong.text


async def test_disabled_endpoint_offers_enable(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as client:
        app = await make_app(s.store, "shop")
        ep = await make_endpoint(s.store, app, "http://127.0.0.1:9/a", disabled=True)
        await sign_in(client)
        page = parse((await client.get(f"/ui/app/{app.id}/endpoint/{ep.id}")).text)
        assert [e.attrs["data-status"] for e in page.having("data-status")] == ["disabled"]
        assert page.having("data-testid", "enable-endpoint")[0].attrs["data-body"] == (
            '{"disabled": false}'
        )
        assert page.having("data-testid", "disable-endpoint") == []
        assert page.text("stat-success-rate") == "—"


@pytest.mark.parametrize(
    ("capabilities", "read_only", "expected"),
    [
        (None, False, set()),  # no capability: ViewBase only
        (["ViewEndpointSecret"], False, {"reveal-secret"}),
        (["ManageEndpointSecret"], False, {"reveal-secret", "rotate-secret"}),
        (["CreateAttempts"], False, {"send-example", "recover", "bulk-replay"}),
        (["ManageEndpoint"], False, {"reveal-secret", "rotate-secret", "disable-endpoint",
                                     "delete-endpoint", "edit-endpoint"}),
        (["ManageEndpoint", "CreateAttempts"], True, {"reveal-secret"}),  # read-only
    ],
)  # fmt: skip
async def test_portal_endpoint_controls_follow_capabilities(
    tmp_path: Path, capabilities: list[str] | None, read_only: bool, expected: set[str]
) -> None:
    async with shop(tmp_path) as (s, app_id, a, _x), s.client() as client:
        await portal_session(s, client, app_id, capabilities, read_only)
        resp = await client.get(f"/portal/endpoint/{a}")
        assert resp.status_code == 200, resp.text
        page = parse(resp.text)
        assert shown(page) == expected
        messages = page.by_id("endpoint-messages")
        assert messages is not None and messages.attrs["href"] == f"/portal/messages?endpoint={a}"
        assert page.text("stat-success-rate") == "75.0%"
        assert "sekrit" not in resp.text
        home = parse((await client.get("/portal/")).text)
        assert [e.attrs["data-endpoint-id"] for e in home.having("data-endpoint-id")] == [a]
        assert (home.by_id("add-endpoint") is not None) == ("edit-endpoint" in expected)
        links = {e.attrs["href"] for e in home.having("href")}
        assert f"/portal/endpoint/{a}" in links
        assert not any(link.startswith("/ui/app") for link in links)


async def test_portal_refuses_other_applications_endpoints(tmp_path: Path) -> None:
    async with shop(tmp_path) as (s, app_id, a, x), s.client() as client:
        await portal_session(s, client, app_id, ["ManageEndpoint"])
        for path in (f"/portal/endpoint/{x}", "/portal/endpoint/ep_nope"):
            resp = await client.get(path)
            assert resp.status_code == 404, path
            assert "Not found" in resp.text and "127.0.0.1:9/x" not in resp.text
        # the operator's pages are not the portal's
        assert (await client.get(f"/ui/app/{app_id}/endpoint/{a}")).status_code == 303
        # and with no session the portal page says so
        client.cookies.clear()
        assert (await client.get(f"/portal/endpoint/{a}")).status_code == 401


async def test_portal_search_and_paging_stay_in_the_application(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as client:
        app = await make_app(s.store, "shop")
        other = await make_app(s.store, "other")
        mine = [
            await make_endpoint(s.store, app, f"http://127.0.0.1:9/hook-{i}") for i in range(22)
        ]
        await make_endpoint(s.store, other, "http://127.0.0.1:9/hook-other")
        await portal_session(s, client, app.id, ["ManageEndpoint"])

        async def ids(path: str, **params: str) -> tuple[list[str], Page]:
            page = parse((await client.get(path, params=params or None)).text)
            return [e.attrs["data-endpoint-id"] for e in page.having("data-endpoint-id")], page

        first, page = await ids("/portal/")
        assert first == [e.id for e in mine[:20]]
        nxt = page.having("data-testid", "pager-next")[0].attrs["href"]
        assert nxt.startswith("/portal/?iterator=")
        second, _ = await ids(nxt)
        assert second == [e.id for e in mine[20:]]
        found, _ = await ids("/portal/", q="hook-1")
        assert found == [e.id for e in mine if "hook-1" in e.url]
        assert (await ids("/portal/", q="other"))[0] == []


async def test_endpoint_page_actions_work_through_the_api_with_the_session(
    tmp_path: Path,
) -> None:
    """What the page's buttons send, sent as the browser does: the session cookie and the
    page's CSRF token, no bearer token."""
    async with shop(tmp_path) as (s, app_id, a, _x), s.client() as client:
        await sign_in(client)
        page = parse((await client.get(f"/ui/app/{app_id}/endpoint/{a}")).text)
        csrf = next(e.attrs["content"] for e in page.having("name", "csrf-token"))
        button = page.having("data-testid", "disable-endpoint")[0].attrs
        method, path = button["data-api"].split(" ", 1)
        resp = await client.request(
            method, path, content=button["data-body"], headers=_json_with(csrf)
        )
        assert resp.status_code == 200, resp.text
        html = (await client.get(f"/ui/app/{app_id}/endpoint/{a}")).text
        again = parse(html)
        assert [e.attrs["data-status"] for e in again.having("data-status")] == ["disabled"]
        reveal = again.having("data-testid", "reveal-secret")[0].attrs["data-api"].split(" ", 1)
        secret = await client.request(*reveal, headers=_json_with(csrf))
        assert secret.json()["key"].startswith("whsec_")
        assert secret.json()["key"] not in html  # revealed on click only


def _json_with(csrf: str) -> dict[str, str]:
    return {"X-CSRF-Token": csrf, "Content-Type": "application/json"}


async def test_api_refuses_page_calls_without_csrf(tmp_path: Path) -> None:
    async with shop(tmp_path) as (s, app_id, a, _x), s.client() as client:
        await sign_in(client)
        resp = await client.patch(f"/api/v1/app/{app_id}/endpoint/{a}", json={"disabled": True})
        assert resp.status_code == 401
        assert not (await s.store.get_endpoint(app_id, a)).disabled
