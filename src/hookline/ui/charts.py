"""Chart data for ``static/charts.js``, built from the store's traffic buckets, and the
time ranges the pages switch between. Pure: pages hand it what the store returned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hookline.models import EndpointHealth, TrafficBucket

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class Range:
    key: str
    label: str
    span_ms: int
    bucket_ms: int


RANGES = {
    r.key: r
    for r in (
        Range("hour", "Last hour", HOUR_MS, MINUTE_MS),
        Range("day", "Last day", DAY_MS, 30 * MINUTE_MS),
        Range("week", "Last week", 7 * DAY_MS, 6 * HOUR_MS),
    )
}
DEFAULT_RANGE = "day"
SPARK_SPAN_MS = DAY_MS  # an endpoint list's sparklines: the last day, by the hour
SPARK_BUCKET_MS = HOUR_MS


def pick_range(key: str | None) -> Range:
    """An unknown value falls back to the default: a hand-typed address still works."""
    return RANGES.get(key or DEFAULT_RANGE, RANGES[DEFAULT_RANGE])


def window(now_ms: int, span_ms: int, bucket_ms: int) -> tuple[int, int]:
    """``[since, until)`` ending with the bucket that holds now, so the last bar is the
    current one and every bar covers a whole bucket."""
    until = (now_ms // bucket_ms + 1) * bucket_ms
    return until - span_ms, until


def success_rate(succeeded: int, failed: int) -> float | None:
    total = succeeded + failed
    return None if total == 0 else succeeded / total


def outcome_bars(buckets: Sequence[TrafficBucket]) -> dict[str, Any]:
    return {
        "kind": "bars",
        "x": [b.start_ms // 1000 for b in buckets],
        "series": [
            {"label": "Succeeded", "values": [b.succeeded for b in buckets], "color": "--ok"},
            {"label": "Failed", "values": [b.failed for b in buckets], "color": "--fail"},
        ],
    }


def message_lines(buckets: Sequence[TrafficBucket], label: str) -> dict[str, Any]:
    return {
        "kind": "lines",
        "x": [b.start_ms // 1000 for b in buckets],
        "series": [{"label": label, "values": [b.messages for b in buckets], "color": "--info"}],
    }


def latency_lines(buckets: Sequence[TrafficBucket]) -> dict[str, Any]:
    return {
        "kind": "lines",
        "unit": "ms",
        "points": True,
        "x": [b.start_ms // 1000 for b in buckets],
        "series": [
            {"label": "p50", "values": [b.p50_ms for b in buckets], "color": "--primary"},
            {"label": "p95", "values": [b.p95_ms for b in buckets], "color": "--warn"},
        ],
    }


def sparkline(health: EndpointHealth, since_ms: int, bucket_ms: int) -> dict[str, Any]:
    first = since_ms // bucket_ms * bucket_ms
    return {
        "kind": "bars",
        "x": [(first + i * bucket_ms) // 1000 for i in range(len(health.volume))],
        "series": [{"label": "Attempts", "values": health.volume, "color": "--primary"}],
    }


def totals(buckets: Sequence[TrafficBucket]) -> tuple[int, int, int]:
    """Messages, succeeded and failed attempts over the buckets."""
    return (
        sum(b.messages for b in buckets),
        sum(b.succeeded for b in buckets),
        sum(b.failed for b in buckets),
    )
