"""In-process API fixtures: the real FastAPI app on a real SQLite store in ``tmp_path``.

No mocks: requests go through ``httpx.ASGITransport`` into ``create_app``, which talks to
a migrated ``SqliteStore``. Shared helpers live in ``api_helpers.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from api_helpers import BASE, TOKEN, as_served, make_settings

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.store.base import Store


@pytest.fixture
async def store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    """The suite runs on SQLite and on PostgreSQL."""
    settings = make_settings(tmp_path).model_copy(update={"database_url": database_url})
    opened = runtime.open_store(settings, migrated=database_url is not None)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated client on the real app."""
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
        yield c


@pytest.fixture
async def anon(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The same kind of app, with no Authorization header on the client."""
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


@pytest.fixture
async def server(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, but an unhandled exception comes back as the 500 a real server sends."""
    async with as_served(store, **{"Content-Type": "application/json"}) as c:
        yield c
