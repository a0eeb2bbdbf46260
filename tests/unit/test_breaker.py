from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hookline.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerPolicy,
    BreakerState,
    after_result,
    probing,
)

POLICY = BreakerPolicy(threshold=3, base_cooldown_ms=1000, max_cooldown_ms=8000)


def run(outcomes: list[bool], start: BreakerState | None = None) -> BreakerState:
    state = start or BreakerState()
    for i, ok in enumerate(outcomes):
        state = after_result(POLICY, state, ok, now_ms=i)
    return state


def test_opens_after_consecutive_failures_only() -> None:
    assert run([False, False]).state == CLOSED
    assert run([False, False, True, False, False]).state == CLOSED
    opened = run([False, False, False])
    assert opened.state == OPEN and opened.paused_until == 2 + 1000


def test_probe_success_closes_and_failure_doubles_the_cooldown() -> None:
    opened = run([False] * 3)
    probe = probing(opened, lease_until_ms=5000)
    assert probe.state == HALF_OPEN
    assert after_result(POLICY, probe, True, 6000) == BreakerState()
    again = after_result(POLICY, probe, False, 6000)
    assert again.state == OPEN and again.cooldown_ms == 2000 and again.paused_until == 8000


def test_stragglers_do_not_extend_an_open_breaker() -> None:
    opened = run([False] * 3)
    late = after_result(POLICY, opened, False, 500)
    assert late.state == OPEN and late.paused_until == opened.paused_until


@given(st.integers(1, 30))
def test_cooldown_grows_to_its_cap(failed_probes: int) -> None:
    state = run([False] * 3)
    for i in range(failed_probes):
        state = after_result(POLICY, probing(state, 0), False, i)
    assert state.state == OPEN
    assert state.cooldown_ms == min(1000 * 2**failed_probes, 8000)
