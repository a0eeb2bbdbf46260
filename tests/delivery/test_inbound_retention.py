"""The retention pass also drops received request bodies (on the message schedule) and
dedup rows past their source's window, batch by batch."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hookline import ids
from hookline.config import Settings
from hookline.delivery.maintenance import DAY_MS, Maintenance, MaintenanceConfig
from hookline.models import Application
from hookline.runtime import open_store
from hookline.sources import InboundRequest, Source, Verdict
from hookline.store.base import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def request(source: Source, at: int, key: str) -> InboundRequest:
    """Ids made for the given time (the id clock never goes back, and retention walks ids)."""
    return InboundRequest(
        id=ids.boundary_id("req", at) + key,
        source_id=source.id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={},
        body=b"{}",
        verdict=Verdict.ACCEPTED,
        status_code=200,
        received_at=at,
        event_type="push",
        dedup_key=key,
    )


async def test_retention_drops_old_bodies_and_expired_dedup_entries(store: Store) -> None:
    now = int(time.time() * 1000)
    app = Application(id=ids.new_id("app", now - 3 * DAY_MS), name="in")
    source = Source(
        id=ids.new_id("src"),
        name="in",
        provider="none",
        config={},
        token=secrets.token_urlsafe(16),
        app_id=app.id,
        dedup_window_ms=DAY_MS,
    )
    await store.create_source(source, app)
    old_at = now - 2 * DAY_MS  # past a one-day retention and past the one-day window
    old = [await store.intake(request(source, old_at + n, f"k{n}"), old_at + n) for n in range(5)]
    fresh = await store.intake(request(source, now, "fresh"), now)

    loop = Maintenance(store, MaintenanceConfig(retention_ms=DAY_MS, purge_batch=2, purge_pause=0))
    await loop.purge()

    for stored in old:
        assert (await store.get_inbound_request(source.id, stored.id)).body is None
    assert (await store.get_inbound_request(source.id, fresh.id)).body == b"{}"
    assert loop.expired_inbound == 10  # five bodies, five dedup rows
    # an expired key counts as new; a fresh one is still a duplicate
    again = await store.intake(request(source, now + 1, "k0"), now + 1)
    assert again.verdict is Verdict.ACCEPTED
    repeat = await store.intake(request(source, now + 2, "fresh"), now + 2)
    assert repeat.verdict is Verdict.DUPLICATE
