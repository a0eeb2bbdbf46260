"""A polling endpoint (``poll://``) is read by its consumers: the worker never sends to it,
whether a publish fans out inline or in the background, and nothing can queue one."""

from __future__ import annotations

import asyncio

import pytest
from engine_kit import Engine, EngineFactory, now_ms

from hookline import ids
from hookline.errors import Conflict
from hookline.models import POLL_URL, Message
from hookline.store.base import AttemptFilter, PageRequest


async def _touched(e: Engine, endpoint_id: str, msg_ids: list[str]) -> list[str]:
    """Deliveries and attempts of ``endpoint_id``: a polling endpoint must have none."""
    found = []
    for msg_id in msg_ids:
        deliveries = await e.store.list_deliveries(e.app.id, msg_id)
        found += [d.id for d in deliveries if d.endpoint_id == endpoint_id]
    page = await e.store.list_attempts(
        e.app.id, AttemptFilter(endpoint_id=endpoint_id), PageRequest(limit=250)
    )
    return found + [a.id for a in page.data]


@pytest.mark.parametrize("http_endpoints", [1, 20], ids=["inline", "background"])
async def test_the_worker_never_sends_to_a_polling_endpoint(
    engine: EngineFactory, http_endpoints: int
) -> None:
    e = await engine()
    sink = await e.endpoint("/unused", url=POLL_URL)
    for n in range(http_endpoints):
        await e.endpoint(f"/hook{n}")
    sent = [await e.publish() for _ in range(3)]
    await e.receiver.wait_for(3, "/hook0")
    await e.receiver.wait_for(3, f"/hook{http_endpoints - 1}")
    await asyncio.sleep(0.3)  # a wrong delivery would be claimed and tried by now
    assert await _touched(e, sink.id, [m.id for m in sent]) == []
    health = await e.store.endpoint_health([sink.id], now_ms() - 60_000, now_ms() + 1, 60_000)
    assert health[sink.id].failed == 0 and not health[sink.id].breaker_open


async def test_nothing_queues_a_delivery_to_a_polling_endpoint(engine: EngineFactory) -> None:
    e = await engine()
    sink = await e.endpoint("/unused", url=POLL_URL)
    msg = await e.publish()
    with pytest.raises(Conflict):  # a test event, aimed at the endpoint alone
        await e.store.publish_to_endpoint(
            Message(
                id=ids.new_id("msg"),
                app_id=e.app.id,
                event_type="t",
                payload=b"{}",
                created_at=now_ms(),
            ),
            sink.id,
            now_ms(),
        )
    assert await _touched(e, sink.id, [msg.id]) == []
