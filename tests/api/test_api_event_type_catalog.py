"""Event types' groupName, featureFlags (and the deprecated featureFlag) and their retry
schedule: through the official SDK over a real socket, and as raw JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_helpers import assert_error
from live_server import svix_sdk
from svix.api import EventTypeIn, EventTypePatch, EventTypeUpsertIn, SvixAsync

from hookline.store.base import Store

ET = "/api/v1/event-type"


@pytest.fixture
async def sdk(store: Store) -> AsyncIterator[SvixAsync]:
    async with svix_sdk(store) as client:
        yield client


async def test_sdk_keeps_group_name_and_feature_flags(sdk: SvixAsync) -> None:
    made = await sdk.event_type.create(
        EventTypeIn(
            name="invoice.paid",
            description="paid",
            group_name="billing",
            feature_flags=["beta", "invoices-v2"],
        )
    )
    assert made.group_name == "billing" and made.feature_flags == ["beta", "invoices-v2"]
    got = await sdk.event_type.get("invoice.paid")
    assert got.group_name == "billing" and got.feature_flags == ["beta", "invoices-v2"]
    [listed] = (await sdk.event_type.list()).data
    assert listed.group_name == "billing" and listed.feature_flags == ["beta", "invoices-v2"]
    patched = await sdk.event_type.patch("invoice.paid", EventTypePatch(group_name="money"))
    assert patched.group_name == "money" and patched.feature_flags == ["beta", "invoices-v2"]
    cleared = await sdk.event_type.patch("invoice.paid", EventTypePatch(feature_flags=None))
    assert cleared.feature_flags is None and cleared.group_name == "money"
    upserted = await sdk.event_type.upsert(
        "invoice.paid", EventTypeUpsertIn(description="again", feature_flags=["ga"])
    )
    assert upserted.feature_flags == ["ga"] and upserted.group_name is None


async def test_raw_shape_and_the_deprecated_feature_flag(client: httpx.AsyncClient) -> None:
    resp = await client.post(ET, json={"name": "a.b", "description": "", "featureFlag": "old"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["featureFlag"] == "old" and body["featureFlags"] == ["old"]
    assert body["groupName"] is None
    resp = await client.put(
        f"{ET}/a.b", json={"description": "", "groupName": "g", "featureFlags": ["x"]}
    )
    body = resp.json()
    assert (body["featureFlag"], body["featureFlags"], body["groupName"]) == (None, ["x"], "g")


@pytest.mark.parametrize(
    "body",
    [
        {"featureFlags": []},
        {"featureFlags": ["a", "a"]},
        {"featureFlags": ["bad flag"]},
        {"groupName": "bad group!"},
        {"groupName": "g" * 257},
    ],
)
async def test_bad_flags_and_groups_are_422_and_write_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    assert_error(await client.post(ET, json={"name": "x.y", "description": "", **body}), 422)
    assert_error(await client.get(f"{ET}/x.y"), 404)
    made = await client.post(ET, json={"name": "x.y", "description": "", "groupName": "g"})
    assert made.status_code == 201
    assert_error(await client.patch(f"{ET}/x.y", json=body), 422)
    assert (await client.get(f"{ET}/x.y")).json()["groupName"] == "g"


async def test_retry_schedule_round_trips(client: httpx.AsyncClient) -> None:
    await client.post(ET, json={"name": "r.s", "description": ""})
    path = f"{ET}/r.s/retry-schedule"
    first = await client.get(path)
    assert first.status_code == 200 and first.json() == {"retrySchedule": None}
    put = await client.put(path, json={"retrySchedule": [5, {"secs": 60, "nanos": 500_000_000}]})
    assert put.status_code == 200, put.text
    want = {"retrySchedule": [{"secs": 5, "nanos": 0}, {"secs": 60, "nanos": 500_000_000}]}
    assert put.json() == want
    assert (await client.get(path)).json() == want
    # replacing the event type's content keeps its schedule
    await client.put(f"{ET}/r.s", json={"description": "new"})
    await client.patch(f"{ET}/r.s", json={"groupName": "g"})
    assert (await client.get(path)).json() == want
    assert (await client.put(path, json={"retrySchedule": None})).json() == {"retrySchedule": None}
    assert (await client.get(path)).json() == {"retrySchedule": None}


@pytest.mark.parametrize(
    "schedule",
    [[-1], [1] * 51, [31 * 24 * 3600], [{"secs": 1, "nanos": 1_000_000_000}], ["soon"], 5],
)
async def test_bad_retry_schedules_are_422_and_write_nothing(
    client: httpx.AsyncClient, schedule: Any
) -> None:
    await client.post(ET, json={"name": "r.s", "description": ""})
    path = f"{ET}/r.s/retry-schedule"
    await client.put(path, json={"retrySchedule": [1]})
    assert_error(await client.put(path, json={"retrySchedule": schedule}), 422)
    assert (await client.get(path)).json() == {"retrySchedule": [{"secs": 1, "nanos": 0}]}


async def test_retry_schedule_of_an_unknown_type_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{ET}/nope/retry-schedule"), 404)
    assert_error(await client.put(f"{ET}/nope/retry-schedule", json={"retrySchedule": [1]}), 404)
    assert_error(await client.get(f"{ET}/nope"), 404)
