"""The scheduler's limits, checked by counting on a simulated clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hookline import breaker
from hookline.delivery.scheduler import Scheduler, TokenBucket
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


def test_in_flight_cap_is_never_exceeded() -> None:
    s = Scheduler(default_max_in_flight=3)
    plan, _ = s.plan([ready()], free=100, now_ms=0)
    assert [(r.endpoint_id, n) for r, n in plan] == [("ep_a", 3)]
    s.claimed(plan, [task("ep_a")] * 3)
    assert s.saturated() == ["ep_a"]
    assert s.plan([ready()], free=100, now_ms=0)[0] == []
    s.finished("ep_a")
    assert s.plan([ready()], free=100, now_ms=0)[0][0][1] == 1


def test_global_free_slots_are_shared_in_due_order() -> None:
    s = Scheduler(default_max_in_flight=8)
    plan, _ = s.plan([ready("ep_a"), ready("ep_b"), ready("ep_c")], free=10, now_ms=0)
    assert [n for _, n in plan] == [8, 2]


def test_fifo_and_probe_send_one_at_a_time() -> None:
    s = Scheduler()
    for endpoint in (ready(fifo=True), ready(breaker_state=breaker.OPEN)):
        plan, _ = s.plan([endpoint], free=100, now_ms=0)
        assert plan[0][1] == 1
        s.claimed(plan, [task("ep_a")])
        assert s.plan([endpoint], free=100, now_ms=0)[0] == []
        s.finished("ep_a")


@given(rate=st.integers(1, 50), seconds=st.integers(1, 30))
def test_rate_limit_allows_rate_per_second_plus_one_second_of_burst(
    rate: int, seconds: int
) -> None:
    s = Scheduler(default_max_in_flight=10_000)
    sent = 0
    for tick in range(seconds * 10 + 1):  # every 100 ms of simulated time
        now = tick * 100
        plan, pauses = s.plan([ready(rate_limit=rate)], free=10_000, now_ms=now)
        granted = sum(n for _, n in plan)
        s.claimed(plan, [task("ep_a")] * granted)
        for _ in range(granted):
            s.finished("ep_a")
        sent += granted
        if not granted:
            assert pauses and pauses[0][1] > now  # waits; nothing fails
    assert sent <= rate * seconds + rate
    assert sent >= rate * seconds


def test_application_rate_limit_is_shared_by_its_endpoints() -> None:
    s = Scheduler(default_max_in_flight=100)
    endpoints = [ready("ep_a", app_rate_limit=4), ready("ep_b", app_rate_limit=4)]
    plan, _ = s.plan(endpoints, free=100, now_ms=0)
    assert sum(n for _, n in plan) == 4


def test_unclaimed_tokens_are_given_back() -> None:
    s = Scheduler(default_max_in_flight=100)
    plan, _ = s.plan([ready(rate_limit=5)], free=100, now_ms=0)
    s.claimed(plan, [])  # nothing was due after all
    again, _ = s.plan([ready(rate_limit=5)], free=100, now_ms=0)
    assert again[0][1] == 5


def test_token_bucket_next_token_time() -> None:
    bucket = TokenBucket.full(rate=2, now_ms=0)
    assert bucket.available(0) == 2
    bucket.take(2)
    assert bucket.available(0) == 0
    assert 500 <= bucket.next_token_at(0) <= 502
    assert bucket.available(500) == 1
