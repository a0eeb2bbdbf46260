"""The delivery engine's verbs: which endpoints are due, claims under a lease, results
(with the next claim in the same commit), and the worker's wake-ups.

Claims, results and releases take their own row locks (``own_locks``): on PostgreSQL
they run at READ COMMITTED, concurrently with other workers' (``sql_claim``,
``sql_results``). ``ready_endpoints`` and ``next_due_at`` are hints read outside them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hookline.breaker import HealthPolicy
from hookline.models import DeliveryResult, DeliveryTask, EndpointStats, ReadyEndpoint
from hookline.store import sql_claim as claims
from hookline.store import sql_queue as queue
from hookline.store import sql_results as results_sql
from hookline.store.base import DEFAULT_MAX_IN_FLIGHT, ClaimAsk
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn


class EngineOps(SqlBase):
    async def ready_endpoints(
        self, now_ms: int, limit: int, exclude: Sequence[str] = ()
    ) -> list[ReadyEndpoint]:
        return await self._read(lambda conn: queue.ready_endpoints(conn, now_ms, limit, exclude))

    async def ready_tunnel(self, endpoint_id: str, now_ms: int) -> ReadyEndpoint | None:
        return await self._read(lambda conn: queue.ready_tunnel(conn, endpoint_id, now_ms))

    async def claim(
        self,
        owner: str,
        plan: Sequence[tuple[ReadyEndpoint, int]],
        now_ms: int,
        lease_ms: int,
        default_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> list[DeliveryTask]:
        return await self._write(
            lambda conn: claims.claim(
                conn, owner, plan, now_ms, lease_ms, default_max_in_flight, self._box
            ),
            own_locks=True,
        )

    async def record_and_claim(
        self,
        owner: str,
        results: Sequence[DeliveryResult],
        now_ms: int,
        policy: HealthPolicy,
        ask: ClaimAsk,
    ) -> tuple[int, list[DeliveryTask]]:
        def op(conn: Conn) -> tuple[int, list[DeliveryTask]]:
            dropped = results_sql.record(conn, owner, results, now_ms, policy)
            ready = queue.ready_endpoints(conn, now_ms, ask.limit, ask.exclude)
            plan = ask.plan(ready) if ready else []
            if not plan:
                return dropped, []
            tasks = claims.claim(
                conn, owner, plan, now_ms, ask.lease_ms, ask.default_max_in_flight, self._box
            )
            return dropped, tasks

        found = await self._write(op, own_locks=True)
        self._work.set()  # operational events, and endpoints whose breaker just closed
        return found

    async def record_results(
        self,
        owner: str,
        results: Sequence[DeliveryResult],
        now_ms: int,
        policy: HealthPolicy,
    ) -> int:
        dropped = await self._write(
            lambda conn: results_sql.record(conn, owner, results, now_ms, policy),
            own_locks=True,
        )
        self._work.set()  # operational events, and endpoints whose breaker just closed
        return dropped

    async def release(self, owner: str, now_ms: int) -> None:
        await self._write(lambda conn: queue.release(conn, owner, now_ms), own_locks=True)
        self._work.set()

    async def wait_for_work(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._work.wait(), timeout)
        except TimeoutError:
            pass
        self._work.clear()

    async def next_due_at(self) -> int | None:
        return await self._read(queue.next_due_at)

    async def endpoint_stats(self, endpoint_id: str, now_ms: int) -> EndpointStats:
        return await self._read(lambda conn: results_sql.endpoint_stats(conn, endpoint_id, now_ms))
