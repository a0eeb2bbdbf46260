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
from collections.abc import Callable, Mapping, Sequence

from hookline import breaker
from hookline.models import DeliveryTask, ReadyEndpoint

Plan = list[tuple[ReadyEndpoint, int]]


class Scheduler:
    def __init__(self, default_max_in_flight: int = 16) -> None:
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
        return _plan(ready, free, self.in_flight, self.default_max_in_flight, self._caps)

    def planner(
        self, free: int
    ) -> tuple[Callable[[Sequence[ReadyEndpoint]], Plan], dict[str, int]]:
        """``plan`` over a copy of this moment's counts, to run on the store's thread
        while the loop goes on; the caps it meets land in the dict, for ``learn``."""
        held = dict(self.in_flight)
        caps: dict[str, int] = {}
        default = self.default_max_in_flight
        return (lambda ready: _plan(ready, free, held, default, caps)), caps

    def learn(self, caps: Mapping[str, int]) -> None:
        self._caps.update((ep, cap) for ep, cap in caps.items() if ep in self.in_flight)

    def claimed(self, tasks: Sequence[DeliveryTask]) -> None:
        self.in_flight.update(t.endpoint_id for t in tasks)

    def finished(self, endpoint_id: str) -> None:
        """A result of the endpoint was recorded (or dropped as stale)."""
        self.in_flight[endpoint_id] -= 1
        if self.in_flight[endpoint_id] <= 0:
            del self.in_flight[endpoint_id]
            self._caps.pop(endpoint_id, None)


def _plan(
    ready: Sequence[ReadyEndpoint],
    free: int,
    held: Mapping[str, int],
    default_cap: int,
    caps: dict[str, int],
) -> Plan:
    plan: Plan = []
    for endpoint in ready:
        if free <= 0:
            break
        ep = endpoint.endpoint_id
        cap = endpoint.max_in_flight or default_cap
        if endpoint.fifo or endpoint.breaker_state != breaker.CLOSED:
            cap = 1  # one in line, or one probe
        caps[ep] = cap
        room = min(cap - held.get(ep, 0), free)
        if room > 0:
            plan.append((endpoint, room))
            free -= room
    return plan
