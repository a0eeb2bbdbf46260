"""The retry policy: pure functions from an attempt's outcome to the next step."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

SLOW_DOWN_STATUSES = frozenset({429, 502, 503, 504})
SLOW_DOWN_MIN_DELAY = 60.0


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    """``schedule`` lists the delays of the retries that follow the immediate first attempt.

    ``(5, 300)`` means three attempts: at once, 5 s after the first failure and
    5 min after the second; the delivery fails for good after the third.
    """

    schedule: Sequence[float]
    jitter: float = 0.2

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def next_delay(
        self,
        attempts_made: int,
        status: int | None = None,
        retry_after: float | None = None,
        rng: random.Random | None = None,
        schedule: Sequence[float] | None = None,
    ) -> float | None:
        """Seconds until the next attempt, or None when the schedule is exhausted.

        ``attempts_made`` counts the attempt that just failed. A slow-down status
        waits at least a minute; ``Retry-After`` is honoured but clamped to 1x-2x the
        scheduled delay, so a receiver can neither stall nor hammer the queue.
        ``schedule`` replaces the server's (an event type's own), with the same jitter.
        """
        delays = self.schedule if schedule is None else schedule
        if attempts_made > len(delays) or attempts_made < 1:
            return None
        base = delays[attempts_made - 1]
        spread = base * self.jitter
        delay = base + (rng or random).uniform(-spread, spread) if spread else base
        if status in SLOW_DOWN_STATUSES:
            delay = max(delay, SLOW_DOWN_MIN_DELAY)
            if retry_after is not None:
                delay = min(max(retry_after, delay), 2 * delay)
        return max(delay, 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
