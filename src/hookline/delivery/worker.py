"""The delivery worker: claim due deliveries, send them concurrently, record results.

One loop claims batches under a lease while earlier sends are still in flight, and
one flusher writes finished results in batches, so neither the database nor a slow
receiver sets the pace for everything else. A crash at any point leaves leased rows
that fall due again when the lease expires: delivery is at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.delivery.actions import ActionRunner
from hookline.delivery.log_events import log_result, task_ids
from hookline.delivery.scheduler import Scheduler
from hookline.delivery.sender import Outcome, Sender
from hookline.errors import OutageLog
from hookline.metrics import Metrics
from hookline.models import (
    ACTION_SCHEME,
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    ErrorKind,
    TriggerType,
)
from hookline.retry import RetryPolicy, parse_retry_after
from hookline.store.base import ClaimAsk, Store
from hookline.tracing import Tracing

log = logging.getLogger("hookline.worker")


@dataclass(slots=True, frozen=True)
class WorkerConfig:
    batch_size: int = 256
    concurrency: int = 128
    lease_seconds: float = 60.0
    poll_interval: float = 1.0
    drain_timeout: float = 20.0
    max_in_flight_per_endpoint: int = 16
    health: HealthPolicy = field(default_factory=HealthPolicy)
    # A send still running after ``slow_after`` seconds gives its slot back, so endpoints
    # that hang cannot use up ``concurrency``; up to ``max_connections`` sends in all.
    slow_after: float = 0.25
    max_connections: int = 1024


def decide(
    task: DeliveryTask, outcome: Outcome, policy: RetryPolicy, now_ms: int
) -> DeliveryResult:
    """Turn one send's outcome into the attempt row and the delivery's next step."""
    attempts_made = task.attempts + 1
    status = DeliveryStatus.SUCCESS if outcome.ok else DeliveryStatus.FAILED
    attempt = Attempt(
        # dated when decided, not when sent: ids then follow the order results are
        # recorded in, which the live tail reads by (a slow send does not fall behind)
        id=ids.new_id("atmpt", now_ms),
        delivery_id=task.delivery_id,
        msg_id=task.msg_id,
        endpoint_id=task.endpoint_id,
        app_id=task.app_id,
        url=task.url,
        status=status,
        response_status=outcome.status,
        response_body=outcome.body,
        duration_ms=outcome.duration_ms,
        error_kind=outcome.error_kind,
        trigger=task.trigger,
        created_at=outcome.started_at_ms or now_ms,
        request_headers=outcome.request_headers,
        response_headers=outcome.response_headers,
    )
    number, event_id, lease = attempts_made, task.event_id, task.lease_until
    if outcome.ok or task.trigger is TriggerType.MANUAL:
        return DeliveryResult(attempt, None, False, number, event_id, lease)
    if outcome.status == 410:
        return DeliveryResult(attempt, None, True, number, event_id, lease)
    delay = policy.next_delay(
        attempts_made,
        status=outcome.status or None,
        retry_after=parse_retry_after(outcome.retry_after),
        schedule=task.retry_schedule,
    )
    retry_at = None if delay is None else now_ms + int(delay * 1000)
    return DeliveryResult(attempt, retry_at, False, number, event_id, lease)


class Worker:
    def __init__(
        self,
        store: Store,
        sender: Sender,
        policy: RetryPolicy,
        config: WorkerConfig,
        actions: ActionRunner | None = None,
        tracing: Tracing | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """``actions`` runs endpoints whose URL is ``action://NAME``; without it every
        such delivery fails as an undeclared action (it never reaches the HTTP sender).
        ``tracing`` records a span per attempt (none without it)."""
        self._store = store
        self._tracing = tracing or Tracing()
        self._sender = sender
        self._actions = actions or ActionRunner({})
        self._metrics = metrics
        self._policy = policy
        self._config = config
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{ids.new_id('wrk')[-8:]}"
        self._in_flight = 0  # started and not finished, slow ones included
        self._fast = 0  # of those, the ones still holding one of ``concurrency`` slots
        self._slow = 0
        self._reserved = 0  # slots a claim under way may fill (the loop's or the flusher's)
        self._slot_freed = asyncio.Event()
        self._results: list[DeliveryResult] = []
        self._results_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = False  # set once no more results can come: the flusher may end
        self._queue: asyncio.Queue[DeliveryTask] = asyncio.Queue()
        self._scheduler = Scheduler(config.max_in_flight_per_endpoint)
        self.delivered = 0
        self.stale_results = 0  # results dropped because their lease had run out
        self._claim_outage = OutageLog(log, "claiming deliveries")
        self._record_outage = OutageLog(log, "recording results")

    def stop(self) -> None:
        """Stop claiming; ``run`` returns after in-flight sends finish and are recorded."""
        self._stopping.set()

    async def run(self) -> None:
        flusher = asyncio.create_task(self._flush_loop(), name="hookline-flusher")
        # a fixed pool of sender coroutines: cheaper than a task per delivery
        pool = max(self._config.max_connections, self._config.concurrency)
        senders = [
            asyncio.create_task(self._send_loop(), name=f"hookline-sender-{i}") for i in range(pool)
        ]
        try:
            await self._claim_loop()
            await self._drain_in_flight()
        finally:
            for sender in senders:
                sender.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
            # the flusher finishes the batch it holds (cancelling it mid-write would lose
            # the batch's bookkeeping), then the rest is flushed; only then are leases
            # released, or the released rows would fence off their own results
            self._closing = True
            self._results_ready.set()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()
            await self._store.release(self.owner, _now_ms())

    async def _drain_in_flight(self) -> None:
        """After stop(): let started sends finish, bounded by the drain timeout."""
        deadline = time.monotonic() + self._config.drain_timeout
        while self._in_flight > 0 and time.monotonic() < deadline:
            self._slot_freed.clear()
            remaining = deadline - time.monotonic()
            await asyncio.wait([asyncio.ensure_future(self._slot_freed.wait())], timeout=remaining)

    async def _send_loop(self) -> None:
        while True:
            task = await self._queue.get()
            await self._deliver(task)

    async def _claim_loop(self) -> None:
        lease_ms = int(self._config.lease_seconds * 1000)
        while not self._stopping.is_set():
            # cleared before claiming, so a slot freed while we claim wakes the next wait
            self._slot_freed.clear()
            free = min(self._free(), self._config.batch_size)
            if free <= 0:
                await self._wait_any(self._slot_freed.wait(), timeout=self._config.poll_interval)
                continue
            self._reserved += free
            try:
                tasks = await self._claim(free, lease_ms)
            except Exception as exc:
                self._claim_outage.failed(exc)
                # a wake-up ends the pause early: the store's listener sends one when the
                # database is back, so claiming resumes then, not a poll interval later
                timeout = self._config.poll_interval
                await self._wait_any(self._store.wait_for_work(timeout), timeout=timeout)
                continue
            finally:
                self._reserved -= free
            self._claim_outage.ok()
            for task in tasks:
                self._start(task)
            if not tasks:
                await self._idle()

    def _free(self) -> int:
        """Send slots no delivery holds and no claim under way may fill."""
        return (
            min(
                self._config.concurrency - self._fast,
                max(self._config.max_connections, self._config.concurrency) - self._in_flight,
            )
            - self._reserved
        )

    async def _claim(self, free: int, lease_ms: int) -> list[DeliveryTask]:
        now = _now_ms()
        ready = await self._store.ready_endpoints(
            now, limit=max(64, free), exclude=self._scheduler.saturated()
        )
        if not ready:
            return []
        plan = self._scheduler.plan(ready, free)
        tasks = await self._store.claim(
            self.owner, plan, now, lease_ms, self._config.max_in_flight_per_endpoint
        )
        self._scheduler.claimed(tasks)
        return tasks

    async def _idle(self) -> None:
        """Sleep until new work is published, the next retry falls due, or a busy
        endpoint frees a slot; the poll interval bounds the sleep in every case."""
        timeout = self._config.poll_interval
        try:
            due = await self._store.next_due_at()
        except Exception as exc:  # the claim that follows finds out, and reports it
            log.debug("next_due_at failed: %r", exc)
            due = None
        if due is not None and due > _now_ms():
            timeout = min(timeout, (due - _now_ms()) / 1000)
        await self._wait_any(
            self._store.wait_for_work(timeout), self._slot_freed.wait(), timeout=timeout
        )

    async def _wait_any(self, *aws: Awaitable[object], timeout: float | None) -> None:
        """Wait for the first of ``aws``, or for stop(), whichever comes first."""
        waiters = {asyncio.ensure_future(aw) for aw in (*aws, self._stopping.wait())}
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for fut in waiters:
            if not fut.done():
                fut.cancel()

    def _ask(self, free: int) -> tuple[ClaimAsk, dict[str, int]]:
        plan, caps = self._scheduler.planner(free)
        return ClaimAsk(
            plan=plan,
            lease_ms=int(self._config.lease_seconds * 1000),
            limit=max(64, free),
            exclude=self._scheduler.saturated(),
            default_max_in_flight=self._config.max_in_flight_per_endpoint,
        ), caps

    def _start(self, task: DeliveryTask) -> None:
        self._in_flight += 1
        self._fast += 1
        self._queue.put_nowait(task)

    async def _deliver(self, task: DeliveryTask) -> None:
        demoted = [False]
        timer = asyncio.get_running_loop().call_later(
            self._config.slow_after, self._demote, demoted
        )
        span = self._tracing.start_attempt(task)
        try:
            try:
                if task.url.startswith(ACTION_SCHEME):
                    outcome = await self._actions.run(task)
                else:
                    sent = span.traceparent if span and task.send_traceparent else None
                    outcome = await self._sender.send(task, sent)
            except Exception as exc:  # a bug in the sender must not lose the lease silently
                log.exception(
                    "sending %s failed unexpectedly",
                    task.delivery_id,
                    extra={"event": "send_crashed", **task_ids(task)},
                )
                outcome = Outcome(0, f"internal error: {exc}", 0, ErrorKind.CONNECTION_ERROR)
            result = decide(task, outcome, self._policy, _now_ms())
            if span is not None:
                span.end(result)
            log_result(result)
            self._results.append(result)
            self._results_ready.set()
        finally:
            timer.cancel()
            if demoted[0]:
                self._slow -= 1
            else:
                self._fast -= 1
            self._in_flight -= 1
            self._slot_freed.set()

    def _demote(self, demoted: list[bool]) -> None:
        """A slow send stops counting against ``concurrency``, while room for slow ones
        lasts; its endpoint's own in-flight cap still holds."""
        if self._slow < self._config.max_connections - self._config.concurrency:
            demoted[0] = True
            self._slow += 1
            self._fast -= 1
            self._slot_freed.set()

    async def _flush_loop(self) -> None:
        while not self._closing:
            await self._results_ready.wait()
            self._results_ready.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Record the finished results; while the worker runs, the same transaction claims
        the next deliveries for the slots free now (the store counts a delivery in flight
        until its result is recorded, so the claim sees the slots these results free)."""
        if not self._results:
            return
        batch, self._results = self._results, []
        for r in batch:
            self._scheduler.finished(r.attempt.endpoint_id)
        free = 0 if self._stopping.is_set() else min(self._free(), self._config.batch_size)
        self._reserved += max(free, 0)
        tasks: list[DeliveryTask] = []
        ask, caps = self._ask(free) if free > 0 else (None, {})
        try:
            while True:
                try:
                    if ask is not None:
                        dropped, tasks = await self._store.record_and_claim(
                            self.owner, batch, _now_ms(), self._config.health, ask
                        )
                    else:
                        dropped = await self._store.record_results(
                            self.owner, batch, _now_ms(), self._config.health
                        )
                    break
                except Exception as exc:
                    self._record_outage.failed(exc)
                    await asyncio.sleep(0.5)
            self._record_outage.ok()
            if self._metrics is not None:
                self._metrics.record_results(batch, _now_ms())
        finally:
            self._reserved -= max(free, 0)
        self._scheduler.claimed(tasks)
        self._scheduler.learn(caps)
        for task in tasks:
            self._start(task)
        self._slot_freed.set()
        if dropped:
            # the send outlived its lease and the delivery was claimed again: the newer
            # claim owns the outcome, so the receiver may see this message twice
            self.stale_results += dropped
            log.warning(
                "dropped %d of %d results: their lease had run out (raise lease_seconds "
                "above the request timeout if this repeats)",
                dropped,
                len(batch),
            )
        self.delivered += sum(1 for r in batch if r.attempt.status is DeliveryStatus.SUCCESS)


def _now_ms() -> int:
    return int(time.time() * 1000)
