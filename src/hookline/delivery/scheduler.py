"""Which due deliveries the worker may start now: the per-endpoint limits, in memory.

The store says which endpoints have due work; this decides how many of each to claim:
no more than the endpoint's in-flight cap, one at a time for FIFO endpoints and for a
breaker's probe, and no faster than the endpoint's and the application's ``throttleRate``
allow. Deliveries over a rate limit are not failed; the endpoint is paused until its
next token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hookline import breaker
from hookline.models import DeliveryTask, ReadyEndpoint


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second, holding at most ``rate`` (one second of burst)."""

    rate: float
    tokens: float
    updated_ms: int

    @classmethod
    def full(cls, rate: float, now_ms: int) -> TokenBucket:
        return cls(rate, max(rate, 1.0), now_ms)

    def available(self, now_ms: int) -> int:
        elapsed = max(0, now_ms - self.updated_ms) / 1000
        self.tokens = min(max(self.rate, 1.0), self.tokens + elapsed * self.rate)
        self.updated_ms = now_ms
        return int(self.tokens + 1e-9)  # no token lost to float rounding

    def take(self, n: int) -> None:
        self.tokens -= n

    def next_token_at(self, now_ms: int) -> int:
        missing = max(0.0, 1.0 - self.tokens)
        return now_ms + max(1, int(missing / self.rate * 1000) + 1)


Plan = list[tuple[ReadyEndpoint, int]]
Pauses = list[tuple[str, int]]


class Scheduler:
    def __init__(self, default_max_in_flight: int = 8) -> None:
        self.default_max_in_flight = default_max_in_flight
        self.in_flight: Counter[str] = Counter()
        self._caps: dict[str, int] = {}
        self._endpoint_buckets: dict[str, TokenBucket] = {}
        self._app_buckets: dict[str, TokenBucket] = {}

    def saturated(self) -> list[str]:
        """Endpoints the next claim should not even look at."""
        return [
            ep
            for ep, n in self.in_flight.items()
            if n >= self._caps.get(ep, self.default_max_in_flight)
        ]

    def plan(self, ready: Sequence[ReadyEndpoint], free: int, now_ms: int) -> tuple[Plan, Pauses]:
        plan: Plan = []
        pauses: Pauses = []
        for endpoint in ready:
            if free <= 0:
                break
            ep = endpoint.endpoint_id
            cap = endpoint.max_in_flight or self.default_max_in_flight
            self._caps[ep] = cap
            busy = self.in_flight[ep]
            room = cap - busy
            if endpoint.fifo or endpoint.breaker_state != breaker.CLOSED:
                room = 1 if busy == 0 else 0  # one in line, or one probe
            room = min(room, free)
            buckets = self._buckets_for(endpoint, now_ms)
            for bucket in buckets:
                room = min(room, bucket.available(now_ms))
            if room <= 0:
                if buckets and busy < cap:
                    pauses.append((ep, max(b.next_token_at(now_ms) for b in buckets)))
                continue
            for bucket in buckets:
                bucket.take(room)
            plan.append((endpoint, room))
            free -= room
        return plan, pauses

    def claimed(self, plan: Plan, tasks: Sequence[DeliveryTask]) -> None:
        """Count what started, and give back the tokens of what was planned but not due."""
        got = Counter(t.endpoint_id for t in tasks)
        for endpoint, planned in plan:
            unused = planned - got[endpoint.endpoint_id]
            if unused > 0:
                for bucket in self._buckets_for(endpoint, None):
                    bucket.take(-unused)
        self.in_flight.update(got)

    def finished(self, endpoint_id: str) -> None:
        self.in_flight[endpoint_id] -= 1
        if self.in_flight[endpoint_id] <= 0:
            del self.in_flight[endpoint_id]

    def _buckets_for(self, endpoint: ReadyEndpoint, now_ms: int | None) -> list[TokenBucket]:
        found = []
        for key, rate, table in (
            (endpoint.endpoint_id, endpoint.rate_limit, self._endpoint_buckets),
            (endpoint.app_id, endpoint.app_rate_limit, self._app_buckets),
        ):
            if not rate:
                table.pop(key, None)
                continue
            bucket = table.get(key)
            if bucket is None or bucket.rate != rate:
                if now_ms is None:
                    continue
                bucket = table[key] = TokenBucket.full(rate, now_ms)
            found.append(bucket)
        return found
