"""Svix's paging over HTTP: both ways on every list, Svix's default orders, ``after=`` /
``before=`` on messages, a 422 for an iterator that is not one of the list's; and the
fidelity fixes beside it (sensitive headers, ``exclude_apps_with_no_endpoints``)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from api_helpers import (
    TOKEN,
    assert_error,
    assert_list_shape,
    create_app_record,
    create_endpoint_record,
    create_message_record,
)

from hookline.api import ApiContext, create_app
from hookline.store.base import Store

SOURCES = "/ingest/api/v1/source"


async def walk(
    client: httpx.AsyncClient, path: str, limit: int, **params: Any
) -> tuple[list[str], list[str]]:
    """Ids forward to the end, then ids back with prevIterator to the start."""

    async def at(iterator: str | None) -> dict[str, Any]:
        query = {"limit": limit, **params, **({"iterator": iterator} if iterator else {})}
        resp = await client.get(path, params=query)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        assert_list_shape(body)
        return body

    pages = [await at(None)]
    while not pages[-1]["done"]:
        pages.append(await at(pages[-1]["iterator"]))
        assert len(pages) < 50
    back = [pages[-1]]
    while True:
        before = await at(back[0]["prevIterator"])
        if not before["data"]:
            assert before["done"] is True
            break
        back.insert(0, before)
        if before["done"]:
            break
        assert len(back) < 50
    assert len(back) == len(pages), (path, limit)
    reached = back[:-1]  # the pages reached walking back: only the first is done
    assert [b["done"] for b in reached] == ([True] + [False] * len(reached))[: len(reached)]

    def ids(ps: list[dict[str, Any]]) -> list[str]:
        return [str(item.get("id", item.get("name"))) for p in ps for item in p["data"]]

    return ids(pages), ids(back)


async def check(client: httpx.AsyncClient, path: str, expected: list[str], **params: Any) -> None:
    for limit in (1, 2, 3, len(expected), len(expected) + 1):
        forward, back = await walk(client, path, limit, **params)
        assert forward == expected, (path, limit, params)
        assert back == expected, (path, limit, params)


async def test_applications_ascend_by_default_and_walk_both_ways(
    client: httpx.AsyncClient,
) -> None:
    made = [(await create_app_record(client, name=f"a{n}"))["id"] for n in range(5)]
    await check(client, "/api/v1/app", sorted(made))
    await check(client, "/api/v1/app", sorted(made, reverse=True), order="descending")


async def test_endpoints_descend_by_default_as_svix_lists_them(
    client: httpx.AsyncClient,
) -> None:
    app = await create_app_record(client)
    made = [(await create_endpoint_record(client, app["id"]))["id"] for _ in range(5)]
    path = f"/api/v1/app/{app['id']}/endpoint"
    await check(client, path, sorted(made, reverse=True))
    await check(client, path, sorted(made), order="ascending")


async def test_event_types_ascend_by_name(client: httpx.AsyncClient) -> None:
    names = ["b.x", "-lead.x", "a.x", "a-b.x", "z.x"]
    for name in names:
        resp = await client.post("/api/v1/event-type", json={"name": name, "description": "d"})
        assert resp.status_code == 201, resp.text
    await check(client, "/api/v1/event-type", sorted(names))


async def test_messages_newest_first_and_after_before_cuts(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    made = [(await create_message_record(client, app["id"]))["id"] for _ in range(6)]
    path = f"/api/v1/app/{app['id']}/msg"
    await check(client, path, sorted(made, reverse=True))
    at = {m: (await client.get(f"{path}/{m}")).json()["timestamp"] for m in made}
    first = at[made[0]]
    # after: the oldest items after the cut, still listed newest first
    newer = [m for m in made if at[m] > first]
    resp = (await client.get(path, params={"after": first, "limit": 2})).json()
    assert [m["id"] for m in resp["data"]] == sorted(newer)[:2][::-1]
    assert resp["done"] is (len(newer) <= 2)
    # before: the newest items before the cut
    last = at[made[-1]]
    older = [m for m in made if at[m] < last]
    resp = (await client.get(path, params={"before": last, "limit": 2})).json()
    assert [m["id"] for m in resp["data"]] == sorted(older, reverse=True)[:2]


async def test_exclude_apps_with_no_endpoints_pages_over_the_rest(
    client: httpx.AsyncClient,
) -> None:
    apps = [(await create_app_record(client, name=f"a{n}"))["id"] for n in range(6)]
    for app_id in apps[1::2]:
        await create_endpoint_record(client, app_id)
    await check(client, "/api/v1/app", sorted(apps[1::2]), exclude_apps_with_no_endpoints="true")
    everything = await client.get("/api/v1/app", params={"exclude_apps_with_no_endpoints": False})
    assert len(everything.json()["data"]) == len(apps)


async def test_sensitive_headers_are_named_not_shown_and_still_kept(
    client: httpx.AsyncClient, store: Store
) -> None:
    app = await create_app_record(client)
    headers = {"Authorization": "Bearer s3cr3t", "X-Api-Key": "k3y", "X-Plain": "p"}
    ep = await create_endpoint_record(client, app["id"], headers=headers)
    path = f"/api/v1/app/{app['id']}/endpoint/{ep['id']}/headers"
    body = (await client.get(path)).json()
    assert body["headers"] == {"X-Plain": "p"}
    assert sorted(body["sensitive"]) == ["Authorization", "X-Api-Key"]
    assert "s3cr3t" not in str(body) and "k3y" not in str(body)
    patched = await client.patch(path, json={"headers": {"Cookie": "c00kie"}})
    assert patched.status_code == 204, patched.text
    body = (await client.get(path)).json()
    assert sorted(body["sensitive"]) == ["Authorization", "Cookie", "X-Api-Key"]
    # what deliveries send is the endpoint's headers, untouched
    stored = await store.get_endpoint(app["id"], ep["id"])
    assert stored.headers == {**headers, "Cookie": "c00kie"}


async def list_routes(store: Store) -> list[str]:
    schema = create_app(ApiContext(store=store, admin_token=TOKEN)).openapi()
    return [
        path
        for path, ops in schema["paths"].items()
        if "get" in ops and any(p["name"] == "iterator" for p in ops["get"].get("parameters", []))
    ]


@pytest.mark.parametrize("iterator", ["zzzz", "-nope", "wrong_" + "0" * 27, "-", "a b"])
async def test_every_list_route_refuses_an_iterator_not_its_own(
    client: httpx.AsyncClient, store: Store, iterator: str
) -> None:
    app = await create_app_record(client, uid="acme")
    ep = await create_endpoint_record(client, app["id"])
    msg = await create_message_record(client, app["id"])
    src = await client.post(
        SOURCES, json={"name": "src", "type": "github", "config": {"secret": "x"}}
    )
    assert src.status_code == 201, src.text
    refs = {"app_id": app["id"], "endpoint_id": ep["id"], "msg_id": msg["id"]}
    refs["source_id"] = src.json()["id"]
    refs["sink_id"] = (await create_endpoint_record(client, app["id"], url="poll://"))["id"]
    refs["consumer_id"] = "consumer-1"
    routes = await list_routes(store)
    assert len(routes) >= 12, routes
    for route in routes:
        unknown = set(re.findall(r"{(\w+)}", route)) - set(refs)
        assert not unknown, f"add a value for {unknown} of {route} to this test"
        path = route.format(**refs)
        if route == "/api/v1/event-type" and iterator != "a b":
            continue  # event types page by name, and these are names
        body = assert_error(await client.get(path, params={"iterator": iterator}), 422)
        assert body["detail"][0]["loc"] == ["query", "iterator"], (route, body)
    # an id of another list is not this list's iterator either
    body = assert_error(await client.get("/api/v1/app", params={"iterator": ep["id"]}), 422)
    assert body["detail"][0]["loc"] == ["query", "iterator"]
