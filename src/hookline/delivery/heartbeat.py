"""A worker process's heartbeat: its row in the store, refreshed every few seconds.

The readiness probe (``GET /api/v1/health/ready``) answers 503 once no worker has beaten
for three intervals, so a deployment whose workers are all down, or cut off from the
database, is taken out of rotation before its queue grows unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from hookline.store.base import Store

log = logging.getLogger("hookline.worker")


class Heartbeat:
    def __init__(self, store: Store, name: str, interval_s: float) -> None:
        self._store, self._interval_s = store, interval_s
        self.name, self.host, self.pid = name, socket.gethostname()[:255], os.getpid()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Beat until stopped, then delete the row. A failed beat is retried at the next
        interval: a store that keeps failing is exactly what readiness should report."""
        failing = False
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(
                    self._store.beat(self.name, self.host, self.pid, int(time.time() * 1000)),
                    self._interval_s,
                )
                if failing:
                    log.info("heartbeat resumed", extra={"event": "heartbeat_resumed"})
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("heartbeat failed: %r", exc, extra={"event": "heartbeat_failed"})
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval_s)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._store.end_beat(self.name, self.host, self.pid), 5.0)

    def stop(self) -> None:
        self._stopping.set()
