"""``send-example``'s answers: which payload it picks, and the refusals that write nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import assert_error, create_app_record, create_endpoint_record


async def example_type(client: httpx.AsyncClient, name: str, schemas: Any) -> None:
    resp = await client.post("/api/v1/event-type", json={"name": name, "schemas": schemas})
    assert resp.status_code == 201, resp.text


async def messages(client: httpx.AsyncClient, app_id: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/app/{app_id}/msg")
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


async def test_picks_the_indexed_example_and_answers_202(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    ep = await create_endpoint_record(client, app["id"])
    await example_type(
        client, "order.paid", {"1": {"type": "object", "examples": [{"n": 1}, {"n": 2}]}}
    )
    path = f"/api/v1/app/{app['id']}/endpoint/{ep['id']}/send-example"
    first = await client.post(path, json={"eventType": "order.paid"})
    assert first.status_code == 202, first.text
    assert first.json()["payload"] == {"n": 1}
    second = await client.post(path, json={"eventType": "order.paid", "exampleIndex": 1})
    assert second.json()["payload"] == {"n": 2}
    ping = await client.post(path, json={"eventType": "svix.ping"})
    assert ping.status_code == 202 and ping.json()["payload"] == {"success": True}
    listed = await messages(client, app["id"])
    assert [m["id"] for m in listed] == [ping.json()["id"], second.json()["id"], first.json()["id"]]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no-example", 400),
        ("unknown-type", 404),
        ("other-app-endpoint", 404),
        ("disabled", 409),
        ("bad-body", 422),
    ],
)
async def test_refusals_write_nothing(client: httpx.AsyncClient, case: str, status: int) -> None:
    app = await create_app_record(client)
    other = await create_app_record(client, uid="other")
    ep = await create_endpoint_record(client, app["id"], disabled=case == "disabled")
    foreign = await create_endpoint_record(client, other["id"])
    await example_type(client, "plain.type", {"1": {"type": "object"}})
    body: dict[str, Any] = {"eventType": "plain.type" if case == "no-example" else "svix.ping"}
    if case == "unknown-type":
        body = {"eventType": "no.such.type"}
    if case == "bad-body":
        body = {"eventType": "bad type!"}
    ep_id = foreign["id"] if case == "other-app-endpoint" else ep["id"]
    resp = await client.post(f"/api/v1/app/{app['id']}/endpoint/{ep_id}/send-example", json=body)
    err = assert_error(resp, status)
    if case == "no-example":
        assert err["code"] == "invalid_scheme"
    assert await messages(client, app["id"]) == []
    assert await messages(client, other["id"]) == []
