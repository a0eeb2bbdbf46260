"""The hourly retention pass also deletes Idempotency-Key rows past their 24-hour window."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline.config import Settings
from hookline.delivery.maintenance import DAY_MS, Maintenance, MaintenanceConfig
from hookline.runtime import open_store
from hookline.store.base import Store, StoredResponse

HOUR_MS = 3600 * 1000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def test_retention_deletes_expired_keys_batch_by_batch(store: Store) -> None:
    now = int(time.time() * 1000)
    old = [f"old-{n}" for n in range(7)]
    for n, key in enumerate(old):
        created = now - DAY_MS - HOUR_MS + n
        assert await store.begin_idempotent(key, created) is None
        if n:  # old-0 stays an abandoned reservation
            await store.save_idempotent_response(key, StoredResponse(201, b"{}"), created)
    assert await store.begin_idempotent("fresh", now - HOUR_MS) is None
    await store.save_idempotent_response("fresh", StoredResponse(201, b"{}"), now - HOUR_MS)

    loop = Maintenance(store, MaintenanceConfig(purge_batch=3, purge_pause=0.0))
    await loop.purge()

    for key in old:  # asked as of the time they were made, so only deletion hides them
        assert await store.get_idempotent_response(key, now - DAY_MS - HOUR_MS) is None
    assert await store.get_idempotent_response("fresh", now) == StoredResponse(201, b"{}")
    assert loop.expired_keys == 7
