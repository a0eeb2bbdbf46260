"""insights: are the dashboard's reads fast with 1,000,000 messages?

A fresh SQLite store (migrated by opening it) gets 20 applications with 5 endpoints each
through the store's verbs, then a week of traffic by bulk SQL: 1,000,000 messages, one
delivery each, 1.2 attempts per delivery (a fifth fail once, then succeed; 1 % fail for
good), the last minutes still queued. The maintenance loop's fold runs over it (timed),
leaving the last two minutes unfolded as a running server would; then every dashboard
read runs a few times in a row and the median and worst are reported.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.harness import Context, log
from hookline import ids
from hookline.config import Settings
from hookline.models import (
    Application,
    DeliveryStatus,
    Endpoint,
    MessageSearch,
)
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.store.base import PageRequest, Store

CAP_FULL_S = 900.0
CAP_QUICK_S = 180.0
APPS, ENDPOINTS_PER_APP = 20, 5
WEEK_MS = 7 * 24 * 3600 * 1000
HOUR_MS, MIN_MS = 3600 * 1000, 60_000
SETTLE_MS = 2 * MIN_MS
RUNS = 5
EVENT_TYPES = [f"type.{n}" for n in range(10)] + ["rare.event"]


async def _setup(store: Store, now: int) -> list[Endpoint]:
    endpoints = []
    for a in range(APPS):
        app = await store.create_application(
            Application(id=ids.new_id("app", now - WEEK_MS - HOUR_MS), name=f"app {a}")
        )
        for e in range(ENDPOINTS_PER_APP):
            endpoints.append(
                await store.create_endpoint(
                    Endpoint(
                        id=ids.new_id("ep", now - WEEK_MS - HOUR_MS),
                        app_id=app.id,
                        url=f"http://127.0.0.1:9/h/{a}/{e}",
                        secret=generate_secret(),
                    )
                )
            )
    return endpoints


def _fill(db: Path, endpoints: list[Endpoint], messages: int, now: int) -> dict[str, int]:
    """Bulk rows in id (time) order, in chunks, as a week of traffic would leave them."""
    rng = random.Random(7)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: the indexes' pages stay cached
    start, step = now - WEEK_MS, WEEK_MS / messages
    counts = {"messages": 0, "deliveries": 0, "attempts": 0, "pending": 0}
    chunk = 50_000
    for first in range(0, messages, chunk):
        msgs, dlvs, atts = [], [], []
        for i in range(first, min(first + chunk, messages)):
            at = int(start + i * step)
            ep = endpoints[i % len(endpoints)]
            event = "rare.event" if i % 50_000 == 7 else EVENT_TYPES[i % 10]
            marker = "needle" if i % 100_000 == 3 else "hay"
            payload = (
                f'{{"customer":"cus_{i % 5000}","amount":{i % 997},"note":"{marker}",'
                f'"lines":[{{"sku":"sku-{i % 313}","qty":{i % 7}}}]}}'
            ).encode()
            msg_id = ids.new_id("msg", at)
            msgs.append((msg_id, ep.app_id, event, f"evt-{i}", payload, at))
            dlv_id = ids.new_id("dlv", at)
            queued = at > now - 5 * MIN_MS and i % 3 == 0
            roll = rng.random()
            status = (
                DeliveryStatus.PENDING
                if queued
                else (DeliveryStatus.FAILED if roll < 0.01 else DeliveryStatus.SUCCESS)
            )
            tries = 0 if queued else (2 if roll < 0.2 else 1)
            dlvs.append(
                (dlv_id, msg_id, ep.id, ep.app_id, int(status), tries, at if queued else None, at)
            )
            for n in range(tries):
                ok = status is DeliveryStatus.SUCCESS and n == tries - 1
                duration = int(rng.lognormvariate(4.0, 0.8))
                atts.append(
                    (
                        ids.new_id("atmpt", at + n),
                        dlv_id,
                        msg_id,
                        ep.id,
                        ep.app_id,
                        ep.url,
                        0 if ok else 2,
                        200 if ok else 503,
                        "",
                        duration,
                        None if ok else "http_status",
                        at + n,
                    )
                )
            counts["pending"] += queued
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, created_at)"
            " VALUES (?,?,?,?,?,?)",
            msgs,
        )
        conn.executemany(
            "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts,"
            " next_attempt_at, trigger, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,0,?,?)",
            [(*d, d[-1]) for d in dlvs],
        )
        conn.executemany(
            "INSERT INTO attempt (id, delivery_id, msg_id, endpoint_id, app_id, url, status,"
            " response_status, response_body, duration_ms, error_kind, trigger, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,0,?)",
            atts,
        )
        conn.execute("COMMIT")
        counts["messages"] += len(msgs)
        counts["deliveries"] += len(dlvs)
        counts["attempts"] += len(atts)
    conn.close()
    return counts


async def _time(name: str, call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - started) * 1000)
        data = getattr(result, "data", result)
        size = len(data) if hasattr(data, "__len__") else 1
    row = {"verb": name, "median_ms": statistics.median(times), "max_ms": max(times)}
    row["returned"] = size
    log(f"  {name:<52} median {row['median_ms']:7.1f} ms  max {row['max_ms']:7.1f} ms  n={size}")
    return row


async def run(ctx: Context) -> dict[str, Any]:
    messages = ctx.size(1_000_000, 100_000)
    data_dir = ctx.work_dir / "insights"
    store = open_store(Settings(data_dir=data_dir))
    await store.open()
    try:
        now = int(time.time() * 1000)
        endpoints = await _setup(store, now)
        log(f"insights: filling {messages:,} messages")
        started = time.monotonic()
        counts = await asyncio.to_thread(_fill, data_dir / "hookline.db", endpoints, messages, now)
        fill_s = time.monotonic() - started
        log(f"  filled in {fill_s:.0f} s: {counts}")
        started = time.monotonic()
        folded = 0
        while n := await store.fold_insights(now - SETTLE_MS, 50_000):
            folded += n
        fold_s = time.monotonic() - started
        log(f"  folded {folded:,} rows in {fold_s:.0f} s ({folded / fold_s:,.0f} rows/s)")
        rows = await _measure(store, endpoints, now, messages)
    finally:
        await store.close()
    return {
        "rows": rows,
        "fill": counts,
        "fill_seconds": fill_s,
        "fold_rows": folded,
        "fold_seconds": fold_s,
        "worst_median_ms": max(r["median_ms"] for r in rows),
    }


async def _measure(
    store: Store, endpoints: list[Endpoint], now: int, messages: int
) -> list[dict[str, Any]]:
    app, ep = endpoints[0].app_id, endpoints[0].id
    day, week = now - 24 * HOUR_MS, now - WEEK_MS
    page = PageRequest(limit=50)
    newest = await store.attempts_after(None, 1)
    minute_ago = ids.boundary_id("atmpt", now - MIN_MS)
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("traffic, all apps, hour by minute", lambda: store.traffic(now - HOUR_MS, now, MIN_MS)),
        ("traffic, all apps, day by 30 min", lambda: store.traffic(day, now, 30 * MIN_MS)),
        ("traffic, all apps, week by 6 h", lambda: store.traffic(week, now, 6 * HOUR_MS)),
        ("traffic, one app, day by hour", lambda: store.traffic(day, now, HOUR_MS, app_id=app)),
        (
            "traffic, one endpoint, hour by minute",
            lambda: store.traffic(now - HOUR_MS, now, MIN_MS, endpoint_id=ep),
        ),
        (
            "traffic, one endpoint, day by 30 min",
            lambda: store.traffic(day, now, 30 * MIN_MS, endpoint_id=ep),
        ),
        (
            "traffic, one endpoint, week by 6 h",
            lambda: store.traffic(week, now, 6 * HOUR_MS, endpoint_id=ep),
        ),
        ("queue summary, all apps", lambda: store.queue_summary(now)),
        ("queue summary, one app", lambda: store.queue_summary(now, app_id=app)),
        ("failing endpoints, last day", lambda: store.failing_endpoints(day, now, 20)),
        (
            "endpoint health, 50 endpoints, day by hour",
            lambda: store.endpoint_health([e.id for e in endpoints[:50]], day, now, HOUR_MS),
        ),
        (
            "search, one app, no filter",
            lambda: store.search_messages(MessageSearch(), page, app_id=app),
        ),
        (
            "search, all apps, event type (1 in 10)",
            lambda: store.search_messages(MessageSearch(event_types=["type.3"]), page, app_id=None),
        ),
        (
            "search, all apps, rare event type (one scan bound)",
            lambda: store.search_messages(
                MessageSearch(event_types=["rare.event"]), page, app_id=None
            ),
        ),
        (
            "search, one app, status failed (one scan bound)",
            lambda: store.search_messages(
                MessageSearch(status=DeliveryStatus.FAILED), page, app_id=app
            ),
        ),
        (
            "search, one app, endpoint",
            lambda: store.search_messages(MessageSearch(endpoint_id=ep), page, app_id=app),
        ),
        (
            "search, all apps, a day three days ago",
            lambda: store.search_messages(
                MessageSearch(since_ms=now - 4 * 24 * HOUR_MS, until_ms=now - 3 * 24 * HOUR_MS),
                page,
                app_id=None,
            ),
        ),
        (
            "search, all apps, by eventId",
            lambda: store.search_messages(
                MessageSearch(ref=f"evt-{messages // 2}"), page, app_id=None
            ),
        ),
        (
            "search, all apps, payload text (one scan bound)",
            lambda: store.search_messages(MessageSearch(text="needle"), page, app_id=None),
        ),
        ("live tail, newest 100", lambda: store.attempts_after(None, 100)),
        ("live tail, one app, newest 100", lambda: store.attempts_after(None, 100, app_id=app)),
        ("live tail, after a minute-old id", lambda: store.attempts_after(minute_ago, 100)),
        ("live tail, after the newest id", lambda: store.attempts_after(newest[-1].id, 100)),
    ]
    return [await _time(name, call) for name, call in calls]
