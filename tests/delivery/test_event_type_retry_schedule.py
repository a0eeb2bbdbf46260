"""An event type's own retry schedule, honoured by the worker against a real receiver on
127.0.0.1: its messages retry on its delays, other event types on the server's."""

from __future__ import annotations

import itertools

from engine_kit import EngineFactory, now_ms

from hookline.models import DeliveryStatus, EventType


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_each_event_type_retries_on_its_own_schedule(engine: EngineFactory) -> None:
    # server: 1.2 s then 1.2 s; "fast.type": 0.1 s, 0.1 s, 0.1 s (and one attempt more)
    e = await engine(schedule=(1.2, 1.2))
    t = now_ms()
    await e.store.create_event_type(
        EventType(name="fast.type", created_at=t, updated_at=t, retry_schedule=[0.1, 0.1, 0.1])
    )
    await e.endpoint("/fast", event_types=["fast.type"])
    await e.endpoint("/slow", event_types=["plain.type"])
    e.receiver.script("/fast", default=500)
    e.receiver.script("/slow", default=500)
    fast = await e.publish(event_type="fast.type")
    slow = await e.publish(event_type="plain.type")

    fast_reqs = await e.receiver.wait_for(4, "/fast", timeout=20)
    slow_reqs = await e.receiver.wait_for(3, "/slow", timeout=20)

    async def settled() -> bool:
        ds = [*await e.store.list_deliveries(e.app.id, fast.id)]
        ds += await e.store.list_deliveries(e.app.id, slow.id)
        return all(d.status is DeliveryStatus.FAILED and d.next_attempt_at is None for d in ds)

    await e.until(settled)
    # four attempts for the event type's three delays, three for the server's two
    assert len(e.receiver.requests("/fast")) == 4
    assert len(e.receiver.requests("/slow")) == 3
    fast_gaps = gaps([r.received_monotonic for r in fast_reqs[:4]])
    slow_gaps = gaps([r.received_monotonic for r in slow_reqs[:3]])
    # the server's 1.2 s delays are 12x the type's 0.1 s: generous bounds on the ratio
    assert min(slow_gaps) > 3 * max(fast_gaps), (fast_gaps, slow_gaps)
    assert min(slow_gaps) >= 1.0, slow_gaps  # never sooner than scheduled (no jitter here)


async def test_a_schedule_set_later_counts_from_the_next_claim(engine: EngineFactory) -> None:
    """The schedule rides with the claim, so a change reaches retries already queued."""
    e = await engine(schedule=(1.0, 1.0, 1.0, 1.0))
    t = now_ms()
    await e.store.create_event_type(EventType(name="late.type", created_at=t, updated_at=t))
    await e.endpoint("/late")
    e.receiver.script("/late", default=500)
    msg = await e.publish(event_type="late.type")
    await e.receiver.wait_for(1, "/late", timeout=20)
    et = await e.store.get_event_type("late.type")
    et.retry_schedule = []  # no retries at all
    await e.store.update_event_type(et)

    async def done() -> bool:
        [d] = await e.store.list_deliveries(e.app.id, msg.id)
        return d.next_attempt_at is None

    await e.until(done)
    # the first retry was queued under the server's schedule; none after it
    assert len(e.receiver.requests("/late")) == 2
