"""The maintenance loop folds new rows into the chart rollups (only rows older than the
settling delay) and its retention pass deletes expired access tokens."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline import ids
from hookline.config import Settings
from hookline.delivery.maintenance import Maintenance, MaintenanceConfig
from hookline.models import AccessKind, AccessToken, Application, Message
from hookline.runtime import open_store
from hookline.store.base import Store

MIN = 60_000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def publish_some(store: Store, n: int) -> int:
    app = await store.create_application(Application(id=ids.new_id("app"), name="acme"))
    at = int(time.time() * 1000)
    for _ in range(n):
        msg = Message(ids.new_id("msg", at), app.id, "invoice.paid", b"{}", created_at=at)
        await store.publish(msg, at)
    return at


async def test_the_loop_folds_settled_rows_only(store: Store) -> None:
    at = await publish_some(store, 5)
    chart = await store.traffic(at - MIN, at + MIN, MIN)
    waiting = Maintenance(store, MaintenanceConfig(insight_settle_ms=10 * MIN))
    assert await waiting.fold_insights() is False
    assert waiting.folded == 0  # too recent: a late commit could still land before them

    loop = Maintenance(store, MaintenanceConfig(insight_settle_ms=-MIN, insight_batch=2))
    while await loop.fold_insights():
        pass
    assert loop.folded == 5
    assert await store.fold_insights(at + MIN, 100) == 0  # nothing left
    assert await store.traffic(at - MIN, at + MIN, MIN) == chart
    assert sum(b.messages for b in chart) == 5


async def test_retention_deletes_expired_access_tokens(store: Store) -> None:
    now = int(time.time() * 1000)

    def token(name: str, expires_at: int) -> AccessToken:
        return AccessToken(
            id=ids.new_id("atok"),
            kind=AccessKind.SESSION,
            token_hash=name,
            app_id=None,
            capabilities=[],
            read_only=False,
            created_at=now - 2 * MIN,
            expires_at=expires_at,
        )

    await store.create_access_tokens([token("old", now - MIN), token("live", now + MIN)])
    await Maintenance(store, MaintenanceConfig(purge_pause=0.0)).purge()
    # asked as of before either expired, so only deletion hides one
    assert await store.find_access_token("old", AccessKind.SESSION, now - 2 * MIN) is None
    assert await store.find_access_token("live", AccessKind.SESSION, now - 2 * MIN) is not None
