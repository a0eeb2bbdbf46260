"""Several stores on one PostgreSQL database, for tests of concurrent processes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from hookline.config import Settings
from hookline.runtime import open_store
from hookline.store.base import Store


@contextlib.asynccontextmanager
async def several_stores(
    tmp_path: Path, url: str, count: int, pool_size: int
) -> AsyncIterator[list[Store]]:
    """``count`` stores on one PostgreSQL database: as many processes' worth of
    connections, for tests of what concurrent processes do to each other."""
    settings = Settings(data_dir=tmp_path, database_url=url, database_pool_size=pool_size)
    opened: list[Store] = []
    try:
        for _ in range(count):
            store = open_store(settings, migrated=True)
            await store.open()
            opened.append(store)
        yield opened
    finally:
        for store in opened:
            await store.close()
