"""A claiming worker in a process of its own, for the cluster tests: claims from a
PostgreSQL database, holds each delivery a few milliseconds, records it as delivered,
and writes one JSON line per delivery it held: endpoint, message, and the wall-clock
times its claim returned and its result was about to be recorded (a span inside the one
the database held it ``sending``). Stops once nothing has been due for half a second.

Usage: python cluster_claimer.py DATABASE_URL OWNER OUT_FILE DATA_DIR
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.models import Attempt, DeliveryResult, DeliveryStatus, DeliveryTask
from hookline.runtime import open_store

ASK, CAP, LEASE_MS, IDLE_S = 2, 3, 60_000, 0.5
PEERS = 3  # the claimers start together: a slow start must not leave one all the work
START_WAIT_S = 60


def outcome(t: DeliveryTask, now_ms: int) -> DeliveryResult:
    attempt = Attempt(
        id=f"atmpt_{t.delivery_id[4:]}",
        delivery_id=t.delivery_id,
        msg_id=t.msg_id,
        endpoint_id=t.endpoint_id,
        app_id=t.app_id,
        url=t.url,
        status=DeliveryStatus.SUCCESS,
        response_status=200,
        response_body="",
        duration_ms=1,
        error_kind=None,
        trigger=t.trigger,
        created_at=now_ms,
    )
    return DeliveryResult(attempt, next_attempt_at=None, lease_until=t.lease_until)


async def main(url: str, owner: str, out: Path, data_dir: Path) -> None:
    store = open_store(Settings(data_dir=data_dir, database_url=url), migrated=True)
    await store.open()
    (data_dir / f"ready-{owner}").touch()
    deadline = time.monotonic() + START_WAIT_S
    while len(list(data_dir.glob("ready-*"))) < PEERS and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    policy = HealthPolicy()
    idle_since = time.monotonic()
    try:
        with out.open("w") as log:
            while time.monotonic() - idle_since < IDLE_S:
                now = int(time.time() * 1000)
                ready = await store.ready_endpoints(now, limit=20)
                tasks = await store.claim(owner, [(r, ASK) for r in ready], now, LEASE_MS, CAP)
                held_at = time.time()
                if not tasks:
                    await asyncio.sleep(0.005)
                    continue
                idle_since = time.monotonic()
                await asyncio.sleep(random.uniform(0.01, 0.03))  # the sends
                done_at = time.time()
                for t in tasks:
                    row = [t.endpoint_id, t.msg_id, t.delivery_id, held_at, done_at]
                    log.write(json.dumps(row) + "\n")
                now = int(time.time() * 1000)
                await store.record_results(owner, [outcome(t, now) for t in tasks], now, policy)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
