"""``GET /api/v1/health/ready``: 200 only while the database answers and a worker has
beaten within three heartbeat intervals; 503 with the reason otherwise, in bounded time.
Served by uvicorn on a 127.0.0.1 socket, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_helpers import make_settings
from live_server import serving

from hookline import runtime
from hookline.delivery.heartbeat import Heartbeat
from hookline.store.base import Store
from hookline.testing.postgres import PostgresServer

READY = "/api/v1/health/ready"
BEAT_S = 0.2


async def _get(base: str) -> tuple[httpx.Response, float]:
    async with httpx.AsyncClient(base_url=base, timeout=60.0) as c:
        started = time.monotonic()
        resp = await c.get(READY)  # no token: probes carry none
        return resp, time.monotonic() - started


async def _until(base: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        resp, _ = await _get(base)
        if resp.status_code == status or time.monotonic() > deadline:
            return resp
        await asyncio.sleep(0.05)


async def test_ready_while_a_worker_beats_and_not_after_it_stops(store: Store) -> None:
    async with serving(store, heartbeat_s=BEAT_S) as base:
        resp, _ = await _get(base)
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["code"] == "not_ready" and body["detail"] == "no worker heartbeat"
        assert body["checks"]["database"] == "ok"

        beat = Heartbeat(store, "worker-1", BEAT_S)
        running = asyncio.create_task(beat.run())
        try:
            resp = await _until(base, 200)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["status"] == "ready" and body["checks"]["database"] == "ok"
            assert body["checks"]["worker"]["lastHeartbeatAgeSeconds"] < 3 * BEAT_S
        finally:
            beat.stop()
            await asyncio.wait_for(running, 10)
        # a clean stop deletes the row: not ready at once, not three intervals later
        resp, _ = await _get(base)
        assert resp.status_code == 503 and resp.json()["detail"] == "no worker heartbeat"


async def test_a_stale_heartbeat_is_not_ready_and_says_for_how_long(store: Store) -> None:
    now_ms = int(time.time() * 1000)
    await store.beat("worker-1", socket.gethostname(), os.getpid(), now_ms - 60_000)
    async with serving(store, heartbeat_s=BEAT_S) as base:
        resp, _ = await _get(base)
        assert resp.status_code == 503
        assert resp.json()["detail"] == "no worker heartbeat for 60 s"
        await store.beat("worker-1", socket.gethostname(), os.getpid(), int(time.time() * 1000))
        resp, _ = await _get(base)
        assert resp.status_code == 200, resp.text


async def test_an_api_only_deployment_may_skip_the_worker_check(store: Store) -> None:
    async with serving(store, heartbeat_s=BEAT_S, ready_require_worker=False) as base:
        resp, _ = await _get(base)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "ready", "checks": {"database": "ok", "worker": "skipped"}}


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    store = runtime.open_store(make_settings(tmp_path))
    await store.open()
    try:
        yield store, tmp_path / "hookline.db"
    finally:
        await store.close()


async def test_a_locked_sqlite_database_is_503_within_the_timeout(
    sqlite_store: tuple[Store, Path],
) -> None:
    """Another process holds the write lock: the probe answers after its timeout, with
    the reason, instead of waiting for the lock."""
    store, path = sqlite_store
    timeout_s = 0.5
    await store.beat("worker-1", "h", 1, int(time.time() * 1000))
    async with serving(store, heartbeat_s=60, health_timeout_s=timeout_s) as base:
        healthy, _ = await _get(base)
        assert healthy.status_code == 200, healthy.text
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            resp, took = await _get(base)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert resp.status_code == 503, resp.text
        body = resp.json()
        assert body["detail"] == f"database unavailable: no answer in {timeout_s:g}s"
        assert body["checks"]["database"] == "failed"
        assert took < timeout_s * 20, took  # bounded by the timeout, generous for a busy box
        assert (await _until(base, 200)).status_code == 200


async def test_a_stopped_postgres_server_is_503_with_the_reason(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = own_postgres.create_database("hookline")
    settings = make_settings(tmp_path).model_copy(update={"database_url": url})
    store = runtime.open_store(settings)
    await store.open()
    try:
        await store.beat("worker-1", "h", 1, int(time.time() * 1000))
        async with serving(store, heartbeat_s=60, health_timeout_s=1.0) as base:
            resp, _ = await _get(base)
            assert resp.status_code == 200, resp.text
            await asyncio.to_thread(own_postgres.stop)
            resp, took = await _get(base)
            assert resp.status_code == 503, resp.text
            assert resp.json()["detail"].startswith("database unavailable: ")
            assert took < 1.0 * 20, took  # the timeout, with room for a busy machine
    finally:
        await store.close()
