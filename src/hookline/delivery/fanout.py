"""Background fan-out beside the worker: the deliveries of messages published to
applications with many endpoints, created batch by batch.

A publish to such an application stores the message and a pending fan-out only, so its
cost does not grow with the number of endpoints. This loop completes them, oldest first:
each ``Store.fan_out`` call is one transaction that creates a batch of deliveries and
moves the message's cursor with them, so a restart resumes where the last commit left
off; nothing a restart needs is kept in memory.

Each round creates at most ``batch_size`` deliveries, split among the pending messages,
whose batches share one group commit. The round is what a publish or a claim queued
behind it waits for, so it is bounded rather than as large as the backlog allows: the
fan-out gets one round per commit, and everything else the rest of the commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from hookline.errors import OutageLog
from hookline.store.base import FanoutStep, Store

log = logging.getLogger("hookline.fanout")


@dataclass(slots=True, frozen=True)
class FanoutConfig:
    batch_size: int = 200  # endpoints per round (one group commit), over all messages
    parallel: int = 8  # messages whose batches run together (and share that commit)
    poll_interval: float = 1.0  # the bound on noticing a fan-out nobody announced


class Fanout:
    def __init__(self, store: Store, config: FanoutConfig) -> None:
        self._store = store
        self._config = config
        self._stopping = asyncio.Event()
        self.deliveries = 0  # created by this loop
        self.finished = 0  # fan-outs completed by this loop

    def stop(self) -> None:
        """``run`` returns once the batches in flight have committed (or failed)."""
        self._stopping.set()

    async def run(self) -> None:
        outage = OutageLog(log, "fan-out")
        while not self._stopping.is_set():
            try:
                busy = await self.step()
                outage.ok()
            except Exception as exc:
                outage.failed(exc)
                busy = False
            if not busy:
                await self._idle()

    async def step(self) -> bool:
        """One batch of each of the oldest pending fan-outs; True if any is left to do
        (the caller goes straight on), False when there was nothing, a batch failed, or
        every batch was blocked (other processes hold them: their commits wake us)."""
        pending = await self._store.pending_fanouts(self._config.parallel)
        if not pending:
            return False
        now = int(time.time() * 1000)
        size = max(1, self._config.batch_size // len(pending))
        steps = await asyncio.gather(
            *(self._store.fan_out(m, now, size) for m in pending),
            return_exceptions=True,
        )
        failed, moved = False, False
        for msg_id, step in zip(pending, steps, strict=True):
            if isinstance(step, FanoutStep):
                self.deliveries += step.deliveries
                self.finished += step.done
                moved = moved or not step.blocked
            else:
                failed = True
                log.error(
                    "fan-out of %s failed: %r; its cursor is unchanged",
                    msg_id,
                    step,
                    extra={"event": "fanout_failed", "msg_id": msg_id},
                )
        return moved and not failed

    async def _idle(self) -> None:
        waiter = asyncio.ensure_future(self._store.wait_for_fanout(self._config.poll_interval))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()
