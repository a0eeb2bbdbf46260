"""How a worker spreads its free slots; the limits themselves are the store's
(tests/store/test_store_limits.py)."""

from __future__ import annotations

from hookline import breaker
from hookline.delivery.scheduler import Scheduler
from hookline.models import DeliveryTask, ReadyEndpoint, TriggerType


def ready(ep: str = "ep_a", app: str = "app_1", **kw: object) -> ReadyEndpoint:
    fields: dict[str, object] = dict(
        endpoint_id=ep,
        app_id=app,
        max_in_flight=None,
        rate_limit=None,
        app_rate_limit=None,
        fifo=False,
        breaker_state=breaker.CLOSED,
        next_due_at=0,
    )
    fields.update(kw)
    return ReadyEndpoint(**fields)  # type: ignore[arg-type]


def task(ep: str) -> DeliveryTask:
    return DeliveryTask(
        delivery_id="d",
        attempts=0,
        trigger=TriggerType.SCHEDULED,
        msg_id="m",
        app_id="a",
        event_type="e",
        payload=b"{}",
        msg_created_at=0,
        endpoint_id=ep,
        url="u",
        headers={},
        signing_keys=(),
    )


def test_asks_no_more_than_the_cap_minus_its_own_sends() -> None:
    s = Scheduler(default_max_in_flight=3)
    plan = s.plan([ready()], free=100)
    assert [(r.endpoint_id, n) for r, n in plan] == [("ep_a", 3)]
    s.claimed([task("ep_a")] * 3)
    assert s.saturated() == ["ep_a"]
    assert s.plan([ready()], free=100) == []
    s.finished("ep_a")
    assert s.plan([ready()], free=100)[0][1] == 1


def test_global_free_slots_are_shared_in_due_order() -> None:
    s = Scheduler(default_max_in_flight=8)
    plan = s.plan([ready("ep_a"), ready("ep_b"), ready("ep_c")], free=10)
    assert [n for _, n in plan] == [8, 2]


def test_fifo_and_probe_are_asked_for_one_at_a_time() -> None:
    s = Scheduler()
    for endpoint in (ready(fifo=True), ready(breaker_state=breaker.OPEN)):
        plan = s.plan([endpoint], free=100)
        assert plan[0][1] == 1
        s.claimed([task("ep_a")])
        assert s.saturated() == ["ep_a"]
        assert s.plan([endpoint], free=100) == []
        s.finished("ep_a")
