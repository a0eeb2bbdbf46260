"""Two real workers on one store: a result sent under a lease that ran out is dropped.

Worker A claims with a short lease and its send hangs past it; worker B claims the same
delivery and succeeds; then A's late failure comes back. It must leave no trace: no
attempt, no breaker move, no operational event; A counts it as stale.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from engine_kit import LOOPBACK_OK, now_ms

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.models import (
    OPERATIONAL_APP_ID,
    Application,
    DeliveryStatus,
    Endpoint,
    Message,
)
from hookline.retry import RetryPolicy
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.store.base import AttemptFilter, MessageFilter, PageRequest, Store
from hookline.testing import Receiver

EAGER_EVENTS = HealthPolicy(failing_event_after=1)  # the first failure already reports


def worker(store: Store, sender: Sender, lease_seconds: float) -> Worker:
    config = WorkerConfig(
        poll_interval=0.05, lease_seconds=lease_seconds, drain_timeout=10, health=EAGER_EVENTS
    )
    return Worker(store, sender, RetryPolicy((0.1, 0.1), jitter=0.0), config)


async def test_a_result_under_a_lost_lease_is_dropped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
    await store.open()
    sender = Sender(SenderConfig(request_timeout=10, connect_timeout=5, policy=LOOPBACK_OK))
    await sender.open()
    async with Receiver() as receiver:
        t = now_ms()
        app = await store.create_application(
            Application(id=ids.new_id("app"), name="t", created_at=t, updated_at=t)
        )
        ep = await store.create_endpoint(
            Endpoint(
                id=ids.new_id("ep"),
                app_id=app.id,
                url=receiver.url("/hook"),
                secret=generate_secret(),
                created_at=t,
                updated_at=t,
            )
        )
        receiver.script("/hook", [500], delay=2.0)  # A's send outlives its 0.3 s lease
        a, b = worker(store, sender, 0.3), worker(store, sender, 30)
        running_a = asyncio.create_task(a.run())
        msg = Message(ids.new_id("msg"), app.id, "a.b", b'{"n":1}', created_at=now_ms())
        await store.publish(msg, now_ms())
        await receiver.wait_for(1, "/hook", timeout=10)
        receiver.script("/hook", default=200)
        a.stop()  # A claims nothing more; its hanging send is drained, then recorded
        running_b = asyncio.create_task(b.run())
        try:
            [first, second] = await receiver.wait_for(2, "/hook", timeout=10)
            assert first.webhook_id == second.webhook_id == msg.id
            with caplog.at_level(logging.WARNING, logger="hookline.worker"):
                await asyncio.wait_for(running_a, timeout=15)  # drained, flushed, released
        finally:
            b.stop()
            await asyncio.wait_for(running_b, timeout=15)
            await sender.close()

    attempts = await store.list_attempts(
        app.id, AttemptFilter(), PageRequest(limit=10), msg_id=msg.id
    )
    assert [(x.status, x.response_status) for x in attempts.data] == [(DeliveryStatus.SUCCESS, 200)]
    [delivery] = await store.list_deliveries(app.id, msg.id)
    assert delivery.status is DeliveryStatus.SUCCESS and delivery.attempts == 1
    stats = await store.endpoint_stats(ep.id, now_ms())
    assert stats.failure_streak == 0 and stats.failing_since is None
    events = await store.list_messages(
        OPERATIONAL_APP_ID,
        MessageFilter(event_types=["message.attempt.failing", "message.attempt.exhausted"]),
        PageRequest(limit=10),
    )
    assert events.data == []
    assert (a.stale_results, b.stale_results) == (1, 0)
    assert any("lease" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    await store.close()
