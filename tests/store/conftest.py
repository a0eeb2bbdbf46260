from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline.config import Settings
from hookline.runtime import open_store
from hookline.store.base import Store


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    """Every backend runs the same contract: SQLite and PostgreSQL."""
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL", database_url=database_url)
    backend = open_store(settings, migrated=database_url is not None)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
