"""Housekeeping beside the worker: background tasks, chunk by chunk, and retention
(payloads, response bodies, received request bodies, and Idempotency-Key and inbound
dedup rows past their window).

Both kinds of work are bounded per transaction (a chunk of messages, a batch of purged
rows) with a pause in between, so they share the store's single writer with delivery
without stalling it. Nothing a restart needs is kept in memory: a task's cursor lives in
its row; retention's cursors only spare later passes a rescan of rows already purged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from hookline.errors import OutageLog
from hookline.models import TaskStatus
from hookline.store.base import PurgeBatch, Store

log = logging.getLogger("hookline.maintenance")

DAY_MS = 24 * 3600 * 1000


@dataclass(slots=True, frozen=True)
class MaintenanceConfig:
    chunk_size: int = 500  # messages examined per task transaction
    chunk_pause: float = 0.01  # between chunks, so delivery's writes interleave
    poll_interval: float = 1.0  # how soon a new task is picked up
    retention_ms: int = 90 * DAY_MS
    retention_interval: float = 3600.0  # between retention passes
    purge_batch: int = 1000  # rows per table per retention transaction
    purge_pause: float = 0.05
    # Chart rollups fold rows whose ids are older than this: more than a lease, since a
    # result is recorded within its delivery's lease or not at all.
    insight_settle_ms: int = 120_000
    # rows per table per fold transaction, and the pause after a full one: a backfill
    # (an upgraded database's history) must leave the single writer to delivery
    insight_batch: int = 500
    insight_pause: float = 0.1
    # between folds once caught up: a fold is a write transaction, and reads count the
    # unfolded rows themselves, so folding more often buys nothing
    insight_idle: float = 15.0


class Maintenance:
    def __init__(self, store: Store, config: MaintenanceConfig) -> None:
        self._store = store
        self._config = config
        self._stopping = asyncio.Event()
        self._next_purge = 0.0  # monotonic time of the next retention pass
        self._next_fold = 0.0  # and of the next fold into the chart rollups
        self._purge_from = PurgeBatch()  # everything before these cursors is purged
        self.purged = 0
        self.expired_keys = 0
        self.expired_inbound = 0
        self.folded = 0

    def stop(self) -> None:
        """``run`` returns once the current transaction has finished."""
        self._stopping.set()

    async def run(self) -> None:
        outage = OutageLog(log, "maintenance")
        while not self._stopping.is_set():
            try:
                busy = await self.advance_tasks()
                if time.monotonic() >= self._next_fold:
                    folding = await self.fold_insights()
                    pause = self._config.insight_pause if folding else self._config.insight_idle
                    self._next_fold = time.monotonic() + pause
                if time.monotonic() >= self._next_purge:
                    await self.purge()
                    self._next_purge = time.monotonic() + self._config.retention_interval
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                busy = False
            await self._pause(self._config.chunk_pause if busy else self._config.poll_interval)

    async def advance_tasks(self) -> bool:
        """One chunk of every running task (round robin, so none waits behind a huge one);
        True while any is still running."""
        running = False
        for task in await self._store.running_tasks():
            if self._stopping.is_set():
                return False
            now = int(time.time() * 1000)
            task = await self._store.advance_task(task.id, now, self._config.chunk_size)
            if task.status is TaskStatus.FAILED:
                log.warning("background task %s failed: %s", task.id, task.error)
            running = running or task.status is TaskStatus.RUNNING
        return running

    async def purge(self) -> int:
        """Drop payloads and response bodies older than the retention period, batch by
        batch; attempt metadata stays. Returns the rows changed in this pass."""
        cutoff = int(time.time() * 1000) - self._config.retention_ms
        batch = self._purge_from
        total = 0
        while not self._stopping.is_set():
            batch = await self._store.purge_expired(cutoff, self._config.purge_batch, batch)
            total += batch.purged
            if batch.done:
                self._purge_from = batch
                break
            await self._pause(self._config.purge_pause)
        self.purged += total
        if total:
            log.info("retention: purged %d payloads and response bodies", total)
        await self.expire_keys()
        await self.expire_inbound()
        await self._store.purge_access_tokens(int(time.time() * 1000), self._config.purge_batch)
        return total

    async def fold_insights(self) -> bool:
        """One batch of new rows into the chart rollups; True while more are waiting."""
        before = int(time.time() * 1000) - self._config.insight_settle_ms
        folded = await self._store.fold_insights(before, self._config.insight_batch)
        self.folded += folded
        return folded >= self._config.insight_batch

    async def expire_keys(self) -> int:
        """Delete Idempotency-Key rows past their 24-hour window, batch by batch; the
        store knows the window, so this pass needs no cursor."""
        total = 0
        while not self._stopping.is_set():
            now = int(time.time() * 1000)
            deleted = await self._store.expire_idempotency_keys(now, self._config.purge_batch)
            total += deleted
            if deleted < self._config.purge_batch:
                break
            await self._pause(self._config.purge_pause)
        self.expired_keys += total
        if total:
            log.info("retention: deleted %d expired idempotency keys", total)
        return total

    async def expire_inbound(self) -> int:
        """Drop bodies of received requests past retention (as message payloads) and
        dedup rows past their source's window, batch by batch."""
        total = 0
        while not self._stopping.is_set():
            now = int(time.time() * 1000)
            cutoff = now - self._config.retention_ms
            changed = await self._store.expire_inbound(cutoff, now, self._config.purge_batch)
            total += changed
            if changed < self._config.purge_batch:
                break
            await self._pause(self._config.purge_pause)
        self.expired_inbound += total
        if total:
            log.info("retention: dropped %d received bodies and dedup entries", total)
        return total

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass
