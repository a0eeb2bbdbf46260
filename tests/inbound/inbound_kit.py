"""In-process servers for the inbound tests (imported as ``inbound_kit``): the real
runtime (intake in front of the API, the router, the worker) on a real socket on
127.0.0.1 and a real SQLite file.

Sources are created through the store, as the Ingest API does it; the test talks to the
server over HTTP only.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hookline import ids, runtime
from hookline.config import Settings
from hookline.models import Application, Endpoint, Message
from hookline.signing import generate_secret
from hookline.sources import Source
from hookline.store.base import MessageFilter, PageRequest, Store
from hookline.testing.ports import free_port
from hookline.testing.roles import running

TOKEN = "inbound-test-token-0123456789"


@dataclass
class Served:
    base_url: str
    store: Store
    db_path: Path
    client: httpx.AsyncClient

    async def source(self, provider: str, config: dict[str, Any], **fields: Any) -> Source:
        now = int(time.time() * 1000)
        app = Application(id=ids.new_id("app"), name=provider, created_at=now, updated_at=now)
        source = Source(
            id=ids.new_id("src"),
            name=provider,
            provider=provider,
            config=config,
            token=secrets.token_urlsafe(32),
            app_id=app.id,
            created_at=now,
            updated_at=now,
            **fields,
        )
        return await self.store.create_source(source, app)

    def ingest_url(self, source: Source) -> str:
        return f"{self.base_url}/in/{source.token}"

    async def endpoint(self, source: Source, url: str, **fields: Any) -> Endpoint:
        now = int(time.time() * 1000)
        endpoint = Endpoint(
            id=ids.new_id("ep"),
            app_id=source.app_id,
            url=url,
            secret=generate_secret(),
            created_at=now,
            updated_at=now,
            **fields,
        )
        return await self.store.create_endpoint(endpoint)

    async def messages(self, source: Source) -> list[Message]:
        page = await self.store.list_messages(source.app_id, MessageFilter(), PageRequest(250))
        return page.data

    def sql(self, statement: str) -> None:
        """Change the database behind the server's back, from another connection."""
        conn = sqlite3.connect(self.db_path, isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()

    @staticmethod
    async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def serve(tmp_path: Path, **overrides: Any) -> AsyncIterator[Served]:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / f"data{port}",
        host="127.0.0.1",
        port=port,
        api_token=TOKEN,
        sqlite_synchronous="NORMAL",
        retry_schedule=(0.2, 0.2),
        poll_interval=0.2,
        **overrides,
    )
    roles = runtime.build_roles(settings, dev=True)
    base = f"http://127.0.0.1:{port}"
    db_path = Path(runtime.sqlite_path(settings.resolved_database_url))
    async with running(roles), httpx.AsyncClient(base_url=base, timeout=15.0) as client:
        yield Served(base, roles.store, db_path, client)
