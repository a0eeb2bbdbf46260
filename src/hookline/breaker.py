"""The per-endpoint circuit breaker, as pure state transitions.

Closed: deliveries flow. After ``threshold`` consecutive failures it opens: nothing is
sent until the cool-down ends, so waiting deliveries keep their retry attempts. Then one
probe goes out (half-open): a success closes the breaker, a failure opens it again with
a cool-down twice as long, up to ``max_cooldown_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}


@dataclass(slots=True, frozen=True)
class BreakerPolicy:
    threshold: int = 5
    base_cooldown_ms: int = 30_000
    max_cooldown_ms: int = 30 * 60_000


@dataclass(slots=True, frozen=True)
class BreakerState:
    state: int = CLOSED
    failure_streak: int = 0
    cooldown_ms: int = 0
    paused_until: int | None = None


def after_result(
    policy: BreakerPolicy, current: BreakerState, ok: bool, now_ms: int
) -> BreakerState:
    """The breaker after one attempt's outcome."""
    if ok:
        return BreakerState()
    streak = current.failure_streak + 1
    if current.state == HALF_OPEN:  # the probe failed: open again, for longer
        cooldown = min(
            max(current.cooldown_ms * 2, policy.base_cooldown_ms), policy.max_cooldown_ms
        )
        return BreakerState(OPEN, streak, cooldown, now_ms + cooldown)
    if current.state == OPEN:  # a send that started before the breaker opened
        return BreakerState(OPEN, streak, current.cooldown_ms, current.paused_until)
    if streak >= policy.threshold:
        cooldown = policy.base_cooldown_ms
        return BreakerState(OPEN, streak, cooldown, now_ms + cooldown)
    return BreakerState(CLOSED, streak, 0, current.paused_until)


def probing(current: BreakerState, lease_until_ms: int) -> BreakerState:
    """An open breaker whose cool-down ended lets exactly one probe out."""
    return BreakerState(HALF_OPEN, current.failure_streak, current.cooldown_ms, lease_until_ms)


@dataclass(slots=True, frozen=True)
class HealthPolicy:
    """Everything the store needs to judge an endpoint's health as results come in."""

    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    disable_after_ms: int = 5 * 24 * 3600 * 1000
    failing_event_after: int = 4  # failed attempts of one message before message.attempt.failing
