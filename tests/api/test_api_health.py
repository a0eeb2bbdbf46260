"""``GET /api/v1/health`` tells the truth about the store, without authentication."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_helpers import BASE, TOKEN, assert_error, make_settings

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.store.base import Store

HEALTH = "/api/v1/health"


@pytest.fixture
async def opened(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    settings = make_settings(tmp_path)
    store = runtime.open_store(settings)
    await store.open()
    try:
        yield store, tmp_path / "hookline.db"
    finally:
        await store.close()


def anon_client(store: Store, timeout_s: float = 2.0) -> httpx.AsyncClient:
    context = ApiContext(store=store, admin_token=TOKEN, health_timeout_s=timeout_s)
    transport = httpx.ASGITransport(app=create_app(context), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


async def test_a_working_store_is_204_without_a_token(opened: tuple[Store, Path]) -> None:
    async with anon_client(opened[0]) as c:
        resp = await c.get(HEALTH)
    assert resp.status_code == 204 and resp.content == b""


async def test_a_store_that_cannot_write_is_503(opened: tuple[Store, Path]) -> None:
    """Another process holds the database's write lock: publishes would hang, then fail."""
    store, path = opened
    assert path.exists()
    locker = sqlite3.connect(path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        async with anon_client(store, timeout_s=0.3) as c:
            body = assert_error(await c.get(HEALTH), 503)
            assert body["code"] == "store_unavailable"
            locker.execute("COMMIT")
            assert (await c.get(HEALTH)).status_code == 204
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()


async def test_a_closed_store_is_503(tmp_path: Path) -> None:
    store = runtime.open_store(make_settings(tmp_path))
    await store.open()
    await store.close()
    async with anon_client(store) as c:
        body = assert_error(await c.get(HEALTH), 503)
    assert body["code"] == "store_unavailable"


class CountingPings:
    """The real store, with its pings counted."""

    def __init__(self, store: Store) -> None:
        self.store, self.pings = store, 0

    async def ping(self) -> None:
        self.pings += 1
        await self.store.ping()


async def test_a_flood_of_probes_costs_one_store_round_trip(opened: tuple[Store, Path]) -> None:
    """Anyone may probe: concurrent probes share one ping, and a healthy answer is reused."""
    import asyncio
    from typing import cast

    counted = CountingPings(opened[0])
    async with anon_client(cast(Store, counted)) as c:
        answers = await asyncio.gather(*(c.get(HEALTH) for _ in range(50)))
        assert {r.status_code for r in answers} == {204}
        assert (await c.get(HEALTH)).status_code == 204
    assert counted.pings == 1
