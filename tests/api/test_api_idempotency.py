"""Idempotency-Key replays: identical to the first answer, and no second copy of a payload.

Publish has two paths: ``Content-Type: application/json`` with no query string (or only
``with_content=true|false``) is served by ``fast_publish``; anything else (here
``?with_content=1``/``0``) by the FastAPI route. Both are checked.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import assert_error, create_app_record, make_settings

from hookline import runtime
from hookline.store.base import Store

NEEDLE = "needle-7f3a9c"
# floats, unicode, escapes and nesting: anything a re-rendering could change
PAYLOAD = (
    '{"secret":"' + NEEDLE + '","big":1e16,"small":1.5e-7,"neg":-0.0,"int":12345678901234,'
    '"text":"h\\u00e9llo \\"q\\" \\u2603 \\ud83d\\ude00","nested":{"z":[1,{"a":null}],"a":true}}'
)
PATHS = {
    "fast": ("", ""),
    "fast-no-content": ("?with_content=false", ""),
    "route": ("?with_content=1", ""),
    "route-no-content": ("?with_content=0", ""),
}


def db_path(data_dir: Path) -> str:
    return runtime.sqlite_path(make_settings(data_dir).resolved_database_url)


def stored_keys(data_dir: Path) -> list[tuple[int, bytes]]:
    with contextlib.closing(sqlite3.connect(db_path(data_dir))) as conn:
        return [
            (r[0], bytes(r[1])) for r in conn.execute("SELECT status, body FROM idempotency_key")
        ]


def cells_holding(data_dir: Path, needle: str) -> list[str]:
    """Every table.column whose value anywhere contains ``needle`` (text or bytes)."""
    found = []
    with contextlib.closing(sqlite3.connect(db_path(data_dir))) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                for (value,) in conn.execute(f"SELECT {column} FROM {table}"):
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if needle.encode() in raw:
                        found.append(f"{table}.{column}")
    return found


async def publish(
    client: httpx.AsyncClient, app_id: str, query: str, key: str, **fields: Any
) -> httpx.Response:
    body = '{"eventType":"user.created","payload":' + PAYLOAD
    for name, value in fields.items():
        body += f',"{name}":{value}'
    return await client.post(
        f"/api/v1/app/{app_id}/msg{query}",
        content=(body + "}").encode(),
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )


@pytest.fixture
async def app(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_app_record(client, uid="acme")


@pytest.mark.parametrize("path", list(PATHS))
async def test_publish_replay_is_identical_and_publishes_once(
    client: httpx.AsyncClient, app: dict[str, Any], path: str
) -> None:
    query = PATHS[path][0]
    extra = {"channels": '["eu","us"]', "tags": '["t1"]', "eventId": '"evt-1"'}
    first = await publish(client, app["id"], query, "k1", **extra)
    assert first.status_code == 202, first.text
    second = await publish(client, app["id"], query, "k1", **extra)
    assert (second.status_code, second.content) == (first.status_code, first.content)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    plain = await publish(client, app["id"], query, "k2")
    again = await publish(client, app["id"], query, "k2")
    assert (again.status_code, again.content) == (plain.status_code, plain.content)
    listed = (await client.get(f"/api/v1/app/{app['id']}/msg")).json()["data"]
    assert len(listed) == 2


async def test_both_publish_paths_answer_alike(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    """A replay is rendered one way, so the two first answers must already agree."""
    fast = (await publish(client, app["id"], "", "f")).json()
    route = (await publish(client, app["id"], "?with_content=1", "r")).json()
    for out in (fast, route):
        out.pop("id"), out.pop("timestamp")
    assert fast == route


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_the_stored_key_holds_no_payload(
    client: httpx.AsyncClient, app: dict[str, Any], tmp_path: Path, path: str
) -> None:
    first = await publish(client, app["id"], PATHS[path][0], "k1")
    assert first.status_code == 202, first.text
    [(status, body)] = stored_keys(tmp_path)
    assert status == 202
    assert NEEDLE.encode() not in body and len(body) < 200, body
    assert cells_holding(tmp_path, NEEDLE) == ["message.payload"]


@pytest.mark.parametrize("path", ["fast", "route"])
async def test_replay_after_retention_shows_an_empty_payload(
    client: httpx.AsyncClient, store: Store, app: dict[str, Any], tmp_path: Path, path: str
) -> None:
    first = await publish(client, app["id"], PATHS[path][0], "k1")
    assert first.json()["payload"]["secret"] == NEEDLE
    later = int(time.time() * 1000) + 1000
    batch = await store.purge_expired(later, limit=100)
    assert batch.done
    replay = await publish(client, app["id"], PATHS[path][0], "k1")
    assert replay.status_code == 202
    shown = (await client.get(f"/api/v1/app/{app['id']}/msg/{first.json()['id']}")).json()
    assert replay.json() == {**first.json(), "payload": {}} == shown
    assert cells_holding(tmp_path, NEEDLE) == []


async def test_replay_of_a_deleted_message_is_not_found(
    client: httpx.AsyncClient, app: dict[str, Any]
) -> None:
    assert (await publish(client, app["id"], "", "k1")).status_code == 202
    assert (await client.delete(f"/api/v1/app/{app['id']}")).status_code == 204
    assert_error(await publish(client, app["id"], "", "k1"), 404)


@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_app_create_replay_is_identical(client: httpx.AsyncClient, tmp_path: Path) -> None:
    headers = {"Idempotency-Key": "app-1"}
    body = {"name": "Acme ☃", "uid": "acme", "metadata": {"x": "y"}}
    first = await client.post("/api/v1/app", json=body, headers=headers)
    second = await client.post("/api/v1/app", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (second.status_code, second.content) == (201, first.content)
    [(status, stored)] = stored_keys(tmp_path)
    assert status == 201 and b"Acme" not in stored  # sealed at rest like endpoint secrets


async def test_a_rotated_secret_is_not_kept_in_clear_for_its_replay(
    client: httpx.AsyncClient, app: dict[str, Any], tmp_path: Path
) -> None:
    """A replayed rotation answers as the first did (204) without rotating again, and
    the database holds the new key only encrypted."""
    ep = await client.post(f"/api/v1/app/{app['id']}/endpoint", json={"url": "https://e.x/h"})
    path = f"/api/v1/app/{app['id']}/endpoint/{ep.json()['id']}/secret/rotate"
    headers = {"Idempotency-Key": "rotate-1"}
    first = await client.post(path, json={}, headers=headers)
    assert (first.status_code, first.content) == (204, b""), first.text
    key = (await client.get(path.replace("/rotate", ""))).json()["key"]
    second = await client.post(path, json={}, headers=headers)
    assert (second.status_code, second.content) == (204, b"")
    assert (await client.get(path.replace("/rotate", ""))).json()["key"] == key
    assert cells_holding(tmp_path, key.removeprefix("whsec_")) == []


async def test_a_key_is_scoped_to_its_path(client: httpx.AsyncClient, app: dict[str, Any]) -> None:
    first = await publish(client, app["id"], "", "shared")
    other = await client.post(
        "/api/v1/app", json={"name": "other"}, headers={"Idempotency-Key": "shared"}
    )
    assert first.status_code == 202 and other.status_code == 201
    assert "idempotent-replayed" not in other.headers


@pytest.mark.parametrize("path", ["fast", "route"])
@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_a_keyed_publish_is_one_write_and_its_repeat_writes_nothing(
    client: httpx.AsyncClient,
    store: Store,
    app: dict[str, Any],
    tmp_path: Path,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key is looked up and stored in the publish transaction: no reservation before
    it and no saved answer after it. Every write goes through ``SqliteDatabase.write``."""
    database = store._db  # type: ignore[attr-defined]
    write, writes = database.write, []

    async def counted(op: Any, **options: Any) -> Any:
        writes.append(op)
        return await write(op, **options)

    monkeypatch.setattr(database, "write", counted)
    changes = await write(lambda conn: conn.total_changes)
    first = await publish(client, app["id"], PATHS[path][0], "k1")
    assert first.status_code == 202, first.text
    assert len(writes) == 1
    # the message and its key (the application has no endpoints)
    assert await write(lambda conn: conn.total_changes) - changes == 2
    again = await publish(client, app["id"], PATHS[path][0], "k1")
    assert again.headers["idempotent-replayed"] == "true"
    assert len(writes) == 2
    assert await write(lambda conn: conn.total_changes) - changes == 2  # nothing written
