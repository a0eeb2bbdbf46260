"""How one worker spreads its free send slots over the endpoints that have due work.

The per-endpoint limits (in-flight cap, FIFO, the breaker's probe, ``throttleRate``)
are enforced by the store's claim, across every worker process. This side only keeps
the worker from asking for more than could be granted: it counts its own deliveries
until their results are recorded (as long as the store counts them in flight), leaves
out the endpoints it has saturated by itself, and asks each endpoint for no more than
its cap (one for FIFO or a probe) minus what it holds there already.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hookline import breaker
from hookline.models import DeliveryTask, ReadyEndpoint

Plan = list[tuple[ReadyEndpoint, int]]


class Scheduler:
    def __init__(self, default_max_in_flight: int = 8) -> None:
        self.default_max_in_flight = default_max_in_flight
        self.in_flight: Counter[str] = Counter()
        self._caps: dict[str, int] = {}

    def saturated(self) -> list[str]:
        """Endpoints this worker alone holds at their limit: not worth a claim."""
        return [
            ep
            for ep, n in self.in_flight.items()
            if n >= self._caps.get(ep, self.default_max_in_flight)
        ]

    def plan(self, ready: Sequence[ReadyEndpoint], free: int) -> Plan:
        """How many to ask of each endpoint, in the store's order, ``free`` in all."""
        plan: Plan = []
        for endpoint in ready:
            if free <= 0:
                break
            ep = endpoint.endpoint_id
            cap = endpoint.max_in_flight or self.default_max_in_flight
            if endpoint.fifo or endpoint.breaker_state != breaker.CLOSED:
                cap = 1  # one in line, or one probe
            self._caps[ep] = cap
            room = min(cap - self.in_flight[ep], free)
            if room > 0:
                plan.append((endpoint, room))
                free -= room
        return plan

    def claimed(self, tasks: Sequence[DeliveryTask]) -> None:
        self.in_flight.update(t.endpoint_id for t in tasks)

    def finished(self, endpoint_id: str) -> None:
        """A result of the endpoint was recorded (or dropped as stale)."""
        self.in_flight[endpoint_id] -= 1
        if self.in_flight[endpoint_id] <= 0:
            del self.in_flight[endpoint_id]
            self._caps.pop(endpoint_id, None)
