"""Prometheus metrics: one ``Metrics`` object per process, made by the composition root.

Nothing here is a module-level singleton: every instrument lives in the object's own
``CollectorRegistry``, so tests can run several apps in one process. The roles call
its ``record_*`` methods; labels are bounded (no message ids, no URLs, endpoint ids only
with ``per_endpoint``). With ``multiprocess_dir`` (the directory ``hookline serve``
gives its children as ``PROMETHEUS_MULTIPROC_DIR``) every process writes its samples
there and ``exposition`` aggregates all of them with ``MultiProcessCollector``.
The gauges of the queue and the endpoints are read from the store at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from hookline import ids
from hookline.models import DeliveryResult, DeliveryStatus, QueueGauges, TriggerType

CONTENT_TYPE = CONTENT_TYPE_LATEST
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
END_TO_END_BUCKETS = (
    *(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(300.0, 1800.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 24 * 3600.0, 48 * 3600.0),
)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TRIGGERS = {TriggerType.SCHEDULED: "scheduled", TriggerType.MANUAL: "manual"}
OTHER_ROUTE = "other"


class Metrics:
    """The instruments every role records into, and the scrape's exposition."""

    def __init__(self, *, per_endpoint: bool = False, multiprocess_dir: str | None = None):
        self.per_endpoint = per_endpoint
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        attempt_labels = ["outcome", "error_kind", "trigger"]
        if per_endpoint:
            attempt_labels.append("endpoint_id")
        self.attempts = Counter(
            "hookline_delivery_attempts",
            "Delivery attempts by outcome, error kind and trigger.",
            attempt_labels,
            registry=reg,
        )
        self.attempt_duration = Histogram(
            "hookline_delivery_attempt_duration_seconds",
            "Time from the start of a send to its response (or error).",
            buckets=ATTEMPT_BUCKETS,
            registry=reg,
        )
        self.end_to_end = Histogram(
            "hookline_delivery_end_to_end_seconds",
            "From a message's publish to its successful delivery to an endpoint.",
            buckets=END_TO_END_BUCKETS,
            registry=reg,
        )
        self.given_up = Counter(
            "hookline_deliveries_given_up",
            "Deliveries that failed for good (retries exhausted, or the endpoint answered 410).",
            ["reason"],
            registry=reg,
        )
        self.published = Counter(
            "hookline_messages_published", "Messages published through the API.", registry=reg
        )
        self.api_requests = Counter(
            "hookline_api_requests",
            "API requests by route template and status code.",
            ["route", "code"],
            registry=reg,
        )
        self.api_duration = Histogram(
            "hookline_api_request_duration_seconds",
            "API request time by route template.",
            ["route"],
            buckets=API_BUCKETS,
            registry=reg,
        )
        self.inbound = Counter(
            "hookline_inbound_requests",
            "Requests received at /in/{token} by source type and verdict.",
            ["source_type", "verdict"],
            registry=reg,
        )
        self._gauges = _StoreGauges()
        if multiprocess_dir is None:
            self._exposed = reg
        else:
            self._exposed = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self._exposed, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        self._exposed.register(self._gauges)
        self._children: dict[tuple[str, ...], Any] = {}

    # ----- recording -------------------------------------------------------------------

    def record_results(self, batch: Sequence[DeliveryResult], now_ms: int) -> None:
        """One flushed batch of the worker: counts summed per label set first, so the
        counters are touched once per distinct label set, not once per row."""
        counts: dict[tuple[str, ...], int] = {}
        gone = exhausted = 0
        observe_attempt = self.attempt_duration.observe
        observe_e2e = self.end_to_end.observe
        for result in batch:
            attempt = result.attempt
            ok = attempt.status is DeliveryStatus.SUCCESS
            kind = "none" if ok or attempt.error_kind is None else attempt.error_kind.value
            key: tuple[str, ...] = ("success" if ok else "failure", kind)
            key += (_TRIGGERS.get(attempt.trigger, "scheduled"),)
            if self.per_endpoint:
                key += (attempt.endpoint_id,)
            counts[key] = counts.get(key, 0) + 1
            observe_attempt(attempt.duration_ms / 1000)
            if ok:
                try:
                    published_at = ids.id_timestamp_ms(attempt.msg_id)
                except ValueError:
                    continue
                observe_e2e(max(0, now_ms - published_at) / 1000)
            elif result.next_attempt_at is None and attempt.trigger is TriggerType.SCHEDULED:
                if result.disable_endpoint:
                    gone += 1
                else:
                    exhausted += 1
        for key, n in counts.items():
            self._child(key).inc(n)
        if gone:
            self.given_up.labels("endpoint_gone").inc(gone)
        if exhausted:
            self.given_up.labels("retries_exhausted").inc(exhausted)

    def _child(self, key: tuple[str, ...]) -> Any:
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.attempts.labels(*key)
        return child

    def record_published(self, n: int = 1) -> None:
        self.published.inc(n)

    def record_api_request(self, route: str, code: int, seconds: float) -> None:
        self.api_requests.labels(route, str(code)).inc()
        self.api_duration.labels(route).observe(seconds)

    def record_inbound(self, source_type: str, verdict: str) -> None:
        self.inbound.labels(source_type, verdict).inc()

    # ----- the scrape ------------------------------------------------------------------

    def exposition(self, gauges: QueueGauges | None, now_ms: int | None = None) -> bytes:
        """The text format of every process's samples, with the store's gauges."""
        self._gauges.snapshot = gauges
        self._gauges.now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return generate_latest(self._exposed)


class _StoreGauges(Collector):
    """The queue and endpoint gauges from the snapshot the scrape just read."""

    def __init__(self) -> None:
        self.snapshot: QueueGauges | None = None
        self.now_ms = 0

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        if snap is None:
            return
        depth = GaugeMetricFamily(
            "hookline_queue_depth", "Deliveries not yet final, by state.", labels=["state"]
        )
        for state, value in (
            ("ready", snap.ready),
            ("scheduled", snap.scheduled),
            ("sending", snap.sending),
            ("parked", snap.parked),
        ):
            depth.add_metric([state], value)
        yield depth
        age = 0.0
        if snap.oldest_ready_at is not None:
            age = max(0, self.now_ms - snap.oldest_ready_at) / 1000
        yield GaugeMetricFamily(
            "hookline_queue_oldest_ready_age_seconds",
            "Age of the oldest delivery that is due and not being sent (0 when none).",
            value=age,
        )
        endpoints = GaugeMetricFamily("hookline_endpoints", "Endpoints by state.", labels=["state"])
        endpoints.add_metric(["active"], snap.endpoints_active)
        endpoints.add_metric(["disabled"], snap.endpoints_disabled)
        endpoints.add_metric(["breaker_open"], snap.endpoints_breaker_open)
        yield endpoints
