"""Queue deliveries before a worker starts, through the store's own ``publish``.

``publish`` is the only write path used, so whatever the store maintains on publish
(fan-out rows, per-endpoint state) is there exactly as in production. Messages go
round-robin over ``apps`` applications; every endpoint of an application gets every
message of that application, so deliveries = messages x endpoints per application.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.harness import EVENT_TYPE, log, payload_bytes
from hookline import ids
from hookline.config import Settings
from hookline.models import Application, Endpoint, Message
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.store.base import Store

# The per-endpoint in-flight cap, under whichever name the model gives it (if any).
_IN_FLIGHT_FIELDS = ("max_in_flight", "max_inflight", "in_flight_limit")


def endpoint_extra(max_in_flight: int | None) -> dict[str, Any]:
    if max_in_flight is None:
        return {}
    names = {f.name for f in dataclasses.fields(Endpoint)}
    return {name: max_in_flight for name in _IN_FLIGHT_FIELDS if name in names}


@dataclass
class Seeded:
    data_dir: Path
    app_ids: list[str]
    endpoint_ids: list[str]
    messages: int
    deliveries: int
    seconds: float
    in_flight_field: bool
    # PostgreSQL: the database, and what every process on it must be given (its URL and
    # the shared secret key); None and {} on SQLite, where the folder holds both.
    database_url: str | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def copy_to(self, data_dir: Path) -> Seeded:
        """The same queue in another folder, so one seeding serves several runs."""
        shutil.copytree(self.data_dir, data_dir)
        return dataclasses.replace(self, data_dir=data_dir)


async def seed(
    data_dir: Path,
    *,
    apps: int,
    endpoints_per_app: int,
    messages: int,
    url: Callable[[int], str],
    max_in_flight: int | None = None,
    env: dict[str, str] | None = None,
) -> Seeded:
    """``url(i)`` gives the URL of the i-th endpoint (0-based, over all applications).
    ``env``: ``HOOKLINE_DATABASE_URL`` and ``HOOKLINE_SECRET_KEY`` for PostgreSQL."""
    env = env or {}
    database_url = env.get("HOOKLINE_DATABASE_URL")
    # Seeding is the harness's work, not a measured row: NORMAL makes it quicker.
    store = open_store(
        Settings(
            data_dir=data_dir,
            sqlite_synchronous="NORMAL",
            database_url=database_url,
            secret_key=SecretStr(env.get("HOOKLINE_SECRET_KEY", "")),
        )
    )
    await store.open()
    try:
        now = int(time.time() * 1000)
        extra = endpoint_extra(max_in_flight)
        app_ids: list[str] = []
        endpoint_ids: list[str] = []
        for a in range(apps):
            app = await store.create_application(
                Application(id=ids.new_id("app"), name=f"bench-{a}", created_at=now, updated_at=now)
            )
            app_ids.append(app.id)
            for _ in range(endpoints_per_app):
                ep = await store.create_endpoint(
                    Endpoint(
                        id=ids.new_id("ep"),
                        app_id=app.id,
                        url=url(len(endpoint_ids)),
                        secret=generate_secret(),
                        created_at=now,
                        updated_at=now,
                        **extra,
                    )
                )
                endpoint_ids.append(ep.id)
        # ~20,000 delivery rows per round of concurrent publishes (group commit).
        chunk = max(1, min(500, 20_000 // endpoints_per_app))
        started = time.perf_counter()
        last_print = started
        made = 0
        for first in range(0, messages, chunk):
            at = int(time.time() * 1000)
            outcomes = await asyncio.gather(
                *(
                    store.publish(
                        Message(
                            id=ids.new_id("msg", at),
                            app_id=app_ids[i % apps],
                            event_type=EVENT_TYPE,
                            payload=payload_bytes(i),
                            created_at=at,
                        ),
                        at,
                    )
                    for i in range(first, min(first + chunk, messages))
                )
            )
            made += sum(o.deliveries for o in outcomes)
            if time.perf_counter() - last_print > 15:
                log(f"  seeded {first + chunk:,} messages ({made:,} deliveries so far)")
                last_print = time.perf_counter()
        # Every endpoint takes every message. A publish to more endpoints than the store
        # fans out inline leaves the rest to the background fan-out: finish it here, so
        # "queued" means delivery rows waiting, and a drain measures claims and sends.
        made += await _finish_fanouts(store)
        seconds = time.perf_counter() - started
        deliveries = messages * endpoints_per_app
        if made != deliveries:
            log(f"  note: seeding made {made:,} of {deliveries:,} deliveries")
    finally:
        await store.close()
    return Seeded(
        data_dir,
        app_ids,
        endpoint_ids,
        messages,
        deliveries,
        seconds,
        in_flight_field=bool(extra),
        database_url=database_url,
        env=dict(env),
    )


async def _finish_fanouts(store: Store) -> int:
    """Complete every pending background fan-out, 20 messages at a time."""
    made = 0
    while pending := await store.pending_fanouts(20):
        at = int(time.time() * 1000)
        steps = await asyncio.gather(*(store.fan_out(m, at, 5_000) for m in pending))
        made += sum(step.deliveries for step in steps)
    return made
