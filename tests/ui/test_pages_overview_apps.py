"""The overview and the application pages render what the store holds: numbers from
real published messages and recorded attempts, paginated and searchable lists."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
from dash_kit import Site, deliver, make_app, make_endpoint, parse, publish, sign_in, site


async def traffic(s: Site) -> tuple[str, str, str]:
    """App "shop": endpoint A gets 4 order.paid (3 succeed: 10/20/30 ms, 1 fails), B gets
    2 order.failed (both fail); one more order.paid waits for A. Returns app, A, B ids."""
    app = await make_app(s.store, "shop", uid="shop-uid")
    a = await make_endpoint(s.store, app, "http://127.0.0.1:9/a", event_types=["order.paid"])
    b = await make_endpoint(s.store, app, "http://127.0.0.1:9/b", event_types=["order.failed"])
    await publish(s.store, app, "order.paid", 4)
    await publish(s.store, app, "order.failed", 2)
    await deliver(s.store, {a.id: [(True, 10), (True, 20), (True, 30), (False, 40)],
                            b.id: [(False, 5), (False, 5)]})  # fmt: skip
    await publish(s.store, app, "order.paid", 1)
    return app.id, a.id, b.id


@asynccontextmanager
async def signed_in(s: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with s.client() as client:
        await sign_in(client)
        yield client


async def test_overview_numbers_charts_and_failing_endpoints(tmp_path: Path) -> None:
    async with site(tmp_path) as s:
        app_id, a, b = await traffic(s)
        async with signed_in(s) as client:
            resp = await client.get("/ui/?range=hour")
            assert resp.status_code == 200, resp.text
            page = parse(resp.text)
            assert page.text("stat-messages") == "7"
            assert page.text("stat-success-rate") == "50.0%"
            assert page.text("stat-succeeded") == "3"
            assert page.text("stat-failed") == "3"
            assert page.text("stat-waiting") == "1"
            assert page.text("stat-sending") == "0"
            assert page.text("stat-oldest-waiting").endswith("s ago")
            # the chart's data: the hour by the minute, attempts in the last bar
            spec = json.loads(_json(page, "chart-outcomes"))
            assert len(spec["x"]) == 60
            assert [sum(s["values"]) for s in spec["series"]] == [3, 3]
            assert [e.tag for e in page.having("data-chart", "chart-outcomes")] == ["div"]
            failing = page.having("data-endpoint-id")
            assert {e.attrs["data-endpoint-id"] for e in failing} == {a, b}
            links = {e.attrs.get("href") for e in page.having("href")}
            assert f"/ui/app/{app_id}/endpoint/{b}" in links
            current = [e for e in page.having("data-range") if e.attrs.get("aria-current")]
            assert [e.attrs["data-range"] for e in current] == ["hour"]


def _json(page, id_: str) -> str:  # type: ignore[no-untyped-def]
    """The JSON block of a chart (the script element carrying the chart's id)."""
    found = [e for e in page.elements if e.tag == "script" and e.attrs.get("id") == id_]
    assert len(found) == 1, id_
    return found[0].text


async def test_overview_without_traffic_says_so(tmp_path: Path) -> None:
    async with site(tmp_path) as s, signed_in(s) as client:
        page = parse((await client.get("/ui/?range=week")).text)
        assert page.text("stat-success-rate") == "—"
        assert page.by_id("no-failing-endpoints") is not None
        assert page.text("stat-oldest-waiting") == "none"
        assert len(json.loads(_json(page, "chart-outcomes"))["x"]) == 28  # 6 h over a week


async def test_application_list_pages_and_search(tmp_path: Path) -> None:
    async with site(tmp_path) as s:
        made = [await make_app(s.store, f"Acme {i:02}", uid=f"acme-{i:02}") for i in range(23)]
        globex = await make_app(s.store, "Globex")
        async with signed_in(s) as client:
            first = parse((await client.get("/ui/apps")).text)
            rows = [e.attrs["data-app-id"] for e in first.having("data-app-id")]
            assert rows == [a.id for a in made[:20]]
            assert first.by_id("no-apps") is None
            nxt = first.having("data-testid", "pager-next")[0].attrs["href"]
            second = parse((await client.get(nxt)).text)
            assert [e.attrs["data-app-id"] for e in second.having("data-app-id")] == [
                a.id for a in made[20:]
            ] + [globex.id]
            assert second.having("data-testid", "pager-next") == []
            back = second.having("data-testid", "pager-prev")[0].attrs["href"]
            again = parse((await client.get(back)).text)
            assert [e.attrs["data-app-id"] for e in again.having("data-app-id")] == [
                a.id for a in made[:20]
            ]
            assert again.having("data-testid", "pager-prev") == []

            async def found(q: str) -> list[str]:
                page = parse((await client.get("/ui/apps", params={"q": q})).text)
                return [e.attrs["data-app-id"] for e in page.having("data-app-id")]

            assert await found("GLOBEX") == [globex.id]
            assert await found("acme-07") == [made[7].id]
            assert await found(made[3].id) == [made[3].id]
            assert len(await found("acme")) == 20  # a page; the rest behind "next"
            assert await found("nope") == []


async def test_application_page_lists_endpoints_with_health(tmp_path: Path) -> None:
    async with site(tmp_path) as s:
        app_id, a, b = await traffic(s)
        await s.store.update_endpoint(replace(await s.store.get_endpoint(app_id, b), disabled=True))
        async with signed_in(s) as client:
            for ref in (app_id, "shop-uid"):
                page = parse((await client.get(f"/ui/app/{ref}")).text)
                assert page.text("app-name") == "shop"
                rows = {e.attrs["data-endpoint-id"]: e for e in page.having("data-endpoint-id")}
                assert list(rows) == [a, b]
                assert " ".join(rows[a].text.split()).count("75.0% (3/4)") == 1
                assert "0.0% (0/2)" in " ".join(rows[b].text.split())
                statuses = [e.attrs["data-status"] for e in page.having("data-status")]
                assert statuses == ["active", "disabled"]
                spark = json.loads(_json(page, f"spark-{a}"))
                assert len(spark["x"]) == 24 and sum(spark["series"][0]["values"]) == 4
                assert page.by_id("add-endpoint") is not None
            search = parse((await client.get(f"/ui/app/{app_id}", params={"q": "/B"})).text)
            assert [e.attrs["data-endpoint-id"] for e in search.having("data-endpoint-id")] == [b]
            missing = await client.get("/ui/app/app_nope")
            assert missing.status_code == 404
            assert "Not found" in missing.text


async def test_pages_need_a_session(tmp_path: Path) -> None:
    async with site(tmp_path) as s, s.client() as anon:
        for path in ("/ui/", "/ui/apps", "/ui/app/x"):
            resp = await anon.get(path)
            assert resp.status_code == 303
            assert resp.headers["location"].startswith("/ui/login")


async def test_an_open_breaker_shows_in_the_list_the_page_and_the_overview(
    tmp_path: Path,
) -> None:
    async with site(tmp_path) as s:
        app = await make_app(s.store, "flaky")
        ep = await make_endpoint(s.store, app, "http://127.0.0.1:9/down")
        fine = await make_endpoint(s.store, app, "http://127.0.0.1:9/up", event_types=["x.y"])
        await publish(s.store, app, "a.b", 5)  # five failures in a row open the breaker
        await deliver(s.store, {ep.id: [(False, 5)] * 5})
        async with signed_in(s) as client:
            listing = parse((await client.get(f"/ui/app/{app.id}")).text)
            statuses = {
                row.attrs["data-endpoint-id"]: [
                    e.attrs["data-status"]
                    for e in _inside(listing, row)
                    if "data-status" in e.attrs
                ]
                for row in listing.having("data-endpoint-id")
            }
            assert statuses == {ep.id: ["breaker-open"], fine.id: ["active"]}
            page = parse((await client.get(f"/ui/app/{app.id}/endpoint/{ep.id}")).text)
            assert [e.attrs["data-status"] for e in page.having("data-status")] == ["breaker-open"]
            assert page.text("stat-breaker") == "open"
            assert page.text("stat-streak") == "5"
            overview = parse((await client.get("/ui/")).text)
            assert "Breaker open" in overview.text("failing-endpoints")


def _inside(page, row):  # type: ignore[no-untyped-def]
    """The elements parsed after ``row`` up to the next row: that row's contents."""
    start = page.elements.index(row)
    rest = page.elements[start + 1 :]
    end = next((i for i, e in enumerate(rest) if "data-endpoint-id" in e.attrs), len(rest))
    return rest[:end]


async def test_hostile_query_values_get_a_page_not_an_error(tmp_path: Path) -> None:
    async with site(tmp_path) as s:
        app_id, a, _ = await traffic(s)
        async with signed_in(s) as client:
            for path in (
                "/ui/?range=decade",
                "/ui/apps?iterator=%00zz&q=%25_%27%22",
                "/ui/apps?before=%FF",
                f"/ui/app/{app_id}?q=' OR 1=1 --&before=ep_",
                f"/ui/app/{app_id}/endpoint/{a}?range=<script>",
            ):
                resp = await client.get(path)
                assert resp.status_code == 200, (path, resp.status_code)
                assert "<script>" not in resp.text.split("</head>")[1].replace(
                    '<script type="application/json"', ""
                )
            too_long = await client.get("/ui/apps", params={"q": "x" * 300})
            assert too_long.status_code == 400 and "Bad request" in too_long.text
