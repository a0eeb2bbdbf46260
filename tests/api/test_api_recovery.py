"""Recover, replay-missing and bulk-replay queue background tasks; the task API reads them.

In process, on a real SQLite store. No worker runs here: tasks are advanced with the
store verb the maintenance loop uses, so progress is checked deterministically.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_helpers import (
    assert_error,
    assert_list_shape,
    create_app_record,
    create_endpoint_record,
    create_message_record,
)
from svix.models import BackgroundTaskOut, ListResponseBackgroundTaskOut, RecoverOut, ReplayOut

from hookline.store.base import Store

QTASK = re.compile(r"^qtask_[A-Za-z0-9]{27}$")
KINDS = {
    "recover": "endpoint.recover",
    "replay-missing": "endpoint.replay",
    "bulk-replay": "endpoint.bulk-replay",
}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def an_hour_ago() -> str:
    return iso(datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
async def target(client: httpx.AsyncClient) -> tuple[str, str]:
    app = await create_app_record(client)
    ep = await create_endpoint_record(client, app["id"])
    return app["id"], ep["id"]


async def start(
    client: httpx.AsyncClient, app_id: str, ep_id: str, action: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/api/v1/app/{app_id}/endpoint/{ep_id}/{action}", json=body)


@pytest.mark.parametrize("action", sorted(KINDS))
async def test_each_action_queues_a_running_task_of_its_kind(
    client: httpx.AsyncClient, target: tuple[str, str], action: str
) -> None:
    resp = await start(client, *target, action, {"since": an_hour_ago()})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert set(body) == {"id", "status", "task", "updatedAt"}
    assert QTASK.match(body["id"]) and body["status"] == "running"
    assert body["task"] == KINDS[action]
    (RecoverOut if action == "recover" else ReplayOut).model_validate(body)

    got = await client.get(f"/api/v1/background-task/{body['id']}")
    assert got.status_code == 200, got.text
    task = got.json()
    BackgroundTaskOut.model_validate(task)
    assert task["id"] == body["id"] and task["task"] == KINDS[action]
    assert task["data"] == {"messagesQueued": 0, "messagesSent": 0, "done": False}


async def test_uids_address_the_app_and_the_endpoint(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client, uid="acme")
    await create_endpoint_record(client, app["id"], uid="billing")
    resp = await start(client, "acme", "billing", "recover", {"since": an_hour_ago()})
    assert resp.status_code == 202, resp.text


async def test_bulk_replay_accepts_every_svix_filter(
    client: httpx.AsyncClient, target: tuple[str, str]
) -> None:
    body = {
        "since": an_hour_ago(),
        "until": iso(datetime.now(UTC)),
        "eventTypes": ["user.created", "user.deleted"],
        "channel": "project_1337",
        "tag": "team/a",
        "status": 2,
        "statusCodeClass": 500,
    }
    resp = await start(client, *target, "bulk-replay", body)
    assert resp.status_code == 202, resp.text


async def test_progress_reaches_done_with_the_count(
    client: httpx.AsyncClient, store: Store, target: tuple[str, str]
) -> None:
    app_id, ep_id = target
    since = an_hour_ago()
    for _ in range(3):
        await create_message_record(client, app_id)
    started = (await start(client, app_id, ep_id, "bulk-replay", {"since": since})).json()
    await store.advance_task(started["id"], int(time.time() * 1000), chunk=2)
    mid = (await client.get(f"/api/v1/background-task/{started['id']}")).json()
    assert mid["status"] == "running" and mid["data"]["messagesQueued"] == 2
    await store.advance_task(started["id"], int(time.time() * 1000), chunk=2)
    done = (await client.get(f"/api/v1/background-task/{started['id']}")).json()
    assert done["status"] == "finished"
    assert done["data"] == {"messagesQueued": 3, "messagesSent": 3, "done": True}


async def test_a_deleted_endpoint_fails_its_task(
    client: httpx.AsyncClient, store: Store, target: tuple[str, str]
) -> None:
    app_id, ep_id = target
    started = (await start(client, app_id, ep_id, "recover", {"since": an_hour_ago()})).json()
    assert (await client.delete(f"/api/v1/app/{app_id}/endpoint/{ep_id}")).status_code == 204
    await store.advance_task(started["id"], int(time.time() * 1000), chunk=10)
    task = (await client.get(f"/api/v1/background-task/{started['id']}")).json()
    assert task["status"] == "failed" and task["data"]["done"] is True
    assert "deleted" in task["data"]["error"]


async def test_list_filters_and_paginates(
    client: httpx.AsyncClient, target: tuple[str, str]
) -> None:
    made = [
        (await start(client, *target, action, {"since": an_hour_ago()})).json()["id"]
        for action in ("recover", "replay-missing", "bulk-replay", "recover")
    ]
    everything = (await client.get("/api/v1/background-task")).json()
    assert_list_shape(everything)
    ListResponseBackgroundTaskOut.model_validate(everything)
    assert [t["id"] for t in everything["data"]] == made and everything["done"] is True

    recovers = (await client.get("/api/v1/background-task?task=endpoint.recover")).json()
    assert [t["id"] for t in recovers["data"]] == [made[0], made[3]]
    running = (await client.get("/api/v1/background-task?status=running")).json()
    assert len(running["data"]) == 4
    finished = (await client.get("/api/v1/background-task?status=finished")).json()
    assert finished["data"] == [] and finished["done"] is True
    never_run = (await client.get("/api/v1/background-task?task=sdk.generate")).json()
    assert never_run["data"] == []

    seen: list[str] = []
    iterator: str | None = None
    while True:
        query = "?limit=3" + (f"&iterator={iterator}" if iterator else "")
        page = (await client.get("/api/v1/background-task" + query)).json()
        seen += [t["id"] for t in page["data"]]
        iterator = page["iterator"]
        if page["done"]:
            break
    assert seen == made
    newest = (await client.get("/api/v1/background-task?order=descending&limit=1")).json()
    assert [t["id"] for t in newest["data"]] == [made[-1]]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"since": "yesterday"},
        {"since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        {"since": None},
    ],
)
@pytest.mark.parametrize("action", sorted(KINDS))
async def test_bad_ranges_are_422(
    client: httpx.AsyncClient, target: tuple[str, str], action: str, body: dict[str, Any]
) -> None:
    assert_error(await start(client, *target, action, body), 422)


@pytest.mark.parametrize(
    "extra",
    [
        {"status": 5},
        {"status": "fail"},
        {"statusCodeClass": 150},
        {"channel": "no spaces"},
        {"tag": "bad tag!"},
        {"eventTypes": ["has space"]},
        {"eventTypes": "user.created"},
    ],
)
async def test_bad_bulk_replay_filters_are_422(
    client: httpx.AsyncClient, target: tuple[str, str], extra: dict[str, Any]
) -> None:
    body = {"since": an_hour_ago(), **extra}
    assert_error(await start(client, *target, "bulk-replay", body), 422)


@pytest.mark.parametrize("action", sorted(KINDS))
async def test_unknown_app_or_endpoint_is_404(
    client: httpx.AsyncClient, target: tuple[str, str], action: str
) -> None:
    app_id, ep_id = target
    body = {"since": an_hour_ago()}
    assert_error(await start(client, "app_missing", ep_id, action, body), 404)
    assert_error(await start(client, app_id, "ep_missing", action, body), 404)


async def test_operational_endpoints_cannot_be_recovered_through_an_app(
    client: httpx.AsyncClient,
) -> None:
    op = await client.post(
        "/api/v1/operational-webhook/endpoint", json={"url": "https://example.com/ops"}
    )
    assert op.status_code == 201, op.text
    resp = await start(
        client, "app_operational", op.json()["id"], "recover", {"since": "2024-01-01T00:00:00Z"}
    )
    assert_error(resp, 404)


async def test_unknown_task_is_404_and_bad_queries_are_422(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/background-task/qtask_" + "0" * 27), 404)
    assert_error(await client.get("/api/v1/background-task/not-a-task"), 422)
    assert_error(await client.get("/api/v1/background-task?status=paused"), 422)
    assert_error(await client.get("/api/v1/background-task?task=endpoint.nuke"), 422)
    assert_error(await client.get("/api/v1/background-task?limit=0"), 422)


async def test_tasks_need_the_token(anon: httpx.AsyncClient) -> None:
    assert_error(await anon.get("/api/v1/background-task"), 401)
    resp = await anon.post(
        "/api/v1/app/a/endpoint/e/recover", json={"since": "2024-01-01T00:00:00Z"}
    )
    assert_error(resp, 401)


async def test_expired_payloads_read_as_empty_and_cannot_be_resent(
    client: httpx.AsyncClient, store: Store, target: tuple[str, str]
) -> None:
    app_id, ep_id = target
    msg = await create_message_record(client, app_id, payload={"secret": "data"})
    later = int(time.time() * 1000) + 1000
    batch = await store.purge_expired(later, limit=100)
    assert batch.done and batch.purged >= 1
    got = (await client.get(f"/api/v1/app/{app_id}/msg/{msg['id']}")).json()
    assert got["payload"] == {}
    listed = (await client.get(f"/api/v1/app/{app_id}/msg")).json()
    assert [m["payload"] for m in listed["data"]] == [{}]
    resent = await client.post(f"/api/v1/app/{app_id}/msg/{msg['id']}/endpoint/{ep_id}/resend")
    assert_error(resent, 404)


@pytest.mark.parametrize("ahead", [timedelta(minutes=5), timedelta(days=3650)])
@pytest.mark.parametrize("action", sorted(KINDS))
async def test_a_since_in_the_future_is_422_and_starts_nothing(
    client: httpx.AsyncClient, target: tuple[str, str], action: str, ahead: timedelta
) -> None:
    since = iso(datetime.now(UTC) + ahead)
    body = assert_error(await start(client, *target, action, {"since": since}), 422)
    assert body["detail"][0]["loc"] == ["body", "since"], body
    listed = (await client.get("/api/v1/background-task")).json()
    assert listed["data"] == []
