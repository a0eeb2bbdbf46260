"""``Store.queue_gauges``: the queue and the endpoints by state, as a metrics scrape
reads them, on both backends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from raw_sql import RawSql

from hookline import ids
from hookline.models import Application, Endpoint, Message, QueueGauges
from hookline.signing import generate_secret
from hookline.store.base import Store

BASE = 1_800_000_000_000


async def _endpoint(store: Store, app: Application) -> Endpoint:
    return await store.create_endpoint(
        Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url="http://127.0.0.1:9/hook",
            secret=generate_secret(),
        )
    )


async def _publish(store: Store, app: Application, at: int, **kw: object) -> Message:
    msg = Message(
        id=ids.new_id("msg", at),
        app_id=app.id,
        event_type="invoice.paid",
        payload=b"{}",
        created_at=at,
        **kw,  # type: ignore[arg-type]
    )
    return (await store.publish(msg, at)).message


async def test_queue_and_endpoint_gauges(
    store: Store, database_url: str | None, tmp_path: Path
) -> None:
    app = await store.create_application(Application(id=ids.new_id("app"), name="acme"))
    busy, broken, off = [await _endpoint(store, app) for _ in range(3)]
    assert await store.queue_gauges(BASE) == QueueGauges(0, 0, 0, 0, None, 3, 0, 0)
    await _publish(store, app, BASE)  # one delivery to each endpoint
    await _publish(store, app, BASE + 1_000)
    await _publish(store, app, BASE + 2_000, deliver_at=BASE + 3_600_000)
    ready = [r for r in await store.ready_endpoints(BASE + 5_000, 10) if r.endpoint_id == busy.id]
    await store.claim("w", [(ready[0], 1)], BASE + 5_000, 60_000, 100)
    raw = RawSql(tmp_path, database_url)
    raw.run("UPDATE endpoint_state SET breaker_state = 1 WHERE endpoint_id = ?", (broken.id,))
    await store.update_endpoint(dataclasses.replace(off, disabled=True, updated_at=BASE))

    found = await store.queue_gauges(BASE + 10_000)
    # busy: 1 leased, 1 ready, 1 scheduled; broken: 2 ready, 1 scheduled; off: 3 parked
    assert (found.ready, found.sending, found.scheduled, found.parked) == (3, 1, 2, 3)
    assert found.oldest_ready_at == BASE
    assert (found.endpoints_active, found.endpoints_breaker_open) == (1, 1)
    assert found.endpoints_disabled == 1
    lease_over = await store.queue_gauges(BASE + 5_000 + 60_001)
    assert (lease_over.ready, lease_over.sending) == (4, 0)
