from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline.config import Settings
from hookline.runtime import open_store
from hookline.store.base import Store


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Every backend runs the same contract; PostgreSQL joins this list."""
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    backend = open_store(settings)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()
