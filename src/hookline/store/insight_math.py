"""Pure arithmetic of the dashboard's charts: bucket alignment and latency histograms.

Percentiles come from a fixed histogram of attempt durations, so rollups can keep a
few dozen counters per bucket instead of every duration, and any number of buckets
merges by adding counters. A percentile is the upper bound of the histogram bucket
holding its rank (nearest rank), capped by the largest duration seen: exact when the
durations sit on bounds, otherwise at most one bucket (about 1.5x) above the truth.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

# Upper bounds (ms, inclusive) of the latency buckets; one more bucket holds the rest.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750,
    1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 60000,
)  # fmt: skip
HISTOGRAM_SIZE = len(LATENCY_BOUNDS_MS) + 1


def latency_slot(duration_ms: int) -> int:
    """The histogram bucket a duration falls in."""
    return bisect_left(LATENCY_BOUNDS_MS, duration_ms)


def empty_histogram() -> list[int]:
    return [0] * HISTOGRAM_SIZE


def add_into(total: list[int], other: Sequence[int]) -> None:
    for i, n in enumerate(other):
        total[i] += n


def percentile(histogram: Sequence[int], max_ms: int, fraction: float) -> int | None:
    """The nearest-rank percentile ``fraction`` (0..1], or None for an empty histogram."""
    count = sum(histogram)
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for slot, n in enumerate(histogram):
        seen += n
        if seen >= rank:
            bound = LATENCY_BOUNDS_MS[slot] if slot < len(LATENCY_BOUNDS_MS) else max_ms
            return min(bound, max_ms)
    return max_ms  # unreachable: the counts add up to ``count``


def bucket_starts(since_ms: int, until_ms: int, bucket_ms: int) -> list[int]:
    """Starts of the buckets covering ``[since_ms, until_ms)``, aligned to multiples of
    ``bucket_ms``; ``bucket_ms`` must be a positive whole number of minutes."""
    if bucket_ms <= 0 or bucket_ms % MINUTE_MS:
        raise ValueError(f"bucket_ms must be a positive whole number of minutes: {bucket_ms}")
    if until_ms <= since_ms:
        return []
    first = since_ms - since_ms % bucket_ms
    return list(range(first, until_ms, bucket_ms))


def histogram_of(durations: Iterable[int]) -> tuple[list[int], int]:
    """The histogram and the largest of some durations."""
    histogram, largest = empty_histogram(), 0
    for d in durations:
        histogram[latency_slot(d)] += 1
        largest = max(largest, d)
    return histogram, largest
