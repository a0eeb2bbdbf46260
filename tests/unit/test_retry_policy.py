from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st
from test_scheduler import task

from hookline.config import DEFAULT_RETRY_SCHEDULE
from hookline.delivery.sender import Outcome
from hookline.delivery.worker import decide
from hookline.retry import RetryPolicy, parse_retry_after

policy = RetryPolicy(DEFAULT_RETRY_SCHEDULE, jitter=0.2)


def test_default_schedule_is_the_industry_norm() -> None:
    assert policy.max_attempts == 8
    assert list(DEFAULT_RETRY_SCHEDULE) == [5, 300, 1800, 7200, 18000, 36000, 36000]


@given(attempt=st.integers(1, 7), seed=st.integers(0, 2**32))
def test_delays_stay_within_their_jitter(attempt: int, seed: int) -> None:
    base = DEFAULT_RETRY_SCHEDULE[attempt - 1]
    delay = policy.next_delay(attempt, status=500, rng=random.Random(seed))
    assert delay is not None
    assert base * 0.8 <= delay <= base * 1.2


def test_jitter_spreads_delays_evenly_across_the_band() -> None:
    """Jitter 0.2 draws uniformly from 0.8x to 1.2x: each fifth of that band gets about a
    fifth of many delays, so retries of one outage do not arrive together."""
    rng = random.Random(7)
    base = DEFAULT_RETRY_SCHEDULE[1]
    delays = [policy.next_delay(2, status=500, rng=rng) for _ in range(2000)]
    fifths = Counter(min(4, int((d / base - 0.8) / 0.08)) for d in delays if d is not None)
    assert sorted(fifths) == [0, 1, 2, 3, 4]
    assert all(300 <= n <= 500 for n in fifths.values()), fifths


def test_worker_retry_times_carry_the_jitter() -> None:
    """``decide`` (the worker's use of the policy, with the process's own randomness)
    spreads the retry times of identical failures."""
    failed = Outcome(status=500, body="", duration_ms=1, error_kind=None)
    delays = [decide(task("ep_1"), failed, policy, 0).next_attempt_at for _ in range(500)]
    base_ms = DEFAULT_RETRY_SCHEDULE[0] * 1000
    assert all(d is not None and 0.8 * base_ms <= d <= 1.2 * base_ms for d in delays)
    assert len(set(delays)) > 400
    spread = statistics.pstdev(d for d in delays if d is not None) / base_ms
    assert 0.08 <= spread <= 0.15, spread  # uniform on +-0.2: 0.2 / sqrt(3) = 0.115


def test_schedule_exhausts_after_the_last_attempt() -> None:
    assert policy.next_delay(8) is None
    assert RetryPolicy((1.0, 1.0, 2.0)).next_delay(4) is None
    assert RetryPolicy((1.0, 1.0, 2.0)).next_delay(3) is not None


@given(
    attempt=st.integers(1, 7),
    status=st.sampled_from([429, 502, 503, 504]),
    retry_after=st.one_of(st.none(), st.floats(0, 10**6)),
    seed=st.integers(0, 2**32),
)
def test_slow_down_waits_a_minute_and_clamps_retry_after(
    attempt: int, status: int, retry_after: float | None, seed: int
) -> None:
    jitterless = RetryPolicy(DEFAULT_RETRY_SCHEDULE, jitter=0)
    scheduled = max(DEFAULT_RETRY_SCHEDULE[attempt - 1], 60.0)
    delay = jitterless.next_delay(
        attempt, status=status, retry_after=retry_after, rng=random.Random(seed)
    )
    assert delay is not None
    assert scheduled <= delay <= 2 * scheduled
    if retry_after is not None and scheduled <= retry_after <= 2 * scheduled:
        assert delay == retry_after


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    parsed = parse_retry_after(later)
    assert parsed is not None and 80 <= parsed <= 91
