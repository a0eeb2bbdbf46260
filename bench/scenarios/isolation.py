"""isolation: 100 endpoints in one application, 50 of which accept the connection and
never answer (request timeout 15 s, hookline's default), against a run where all 100
answer. ``hookline serve`` runs with its defaults.

Load is offered near capacity: ``bench/loadgen.py`` (its own process) publishes in a
closed loop end to end, keeping at most 1,000 healthy deliveries published but not yet
received, for 20 s. So the healthy endpoints get as much as the worker can deliver to
them, in both runs. Healthy throughput is the healthy deliveries that arrived divided
by the time from the first publish to the last healthy arrival (or to the cap, if some
never arrived); healthy latency is publish-to-receive over the healthy deliveries, with
missing ones counted as late.
"""

from __future__ import annotations

import time
from typing import Any

from bench.api import run_loadgen
from bench.harness import Context, db_counts, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 240.0
CAP_QUICK_S = 120.0
ENDPOINTS = 100
WINDOW = 1_000  # healthy deliveries outstanding at most
PUBLISHERS = 4
GRACE_S = 45.0


async def one_run(ctx: Context, stalled: bool, seconds: float) -> dict[str, Any]:
    name = "isolation-stalled" if stalled else "isolation-healthy"
    session = ServerSession(ctx, name)
    async with session as served:
        app_id = await served.api.create_app(name)
        for i in range(ENDPOINTS):
            # /h/: the healthy half; /hang/ never answers; /c/ is the healthy control.
            cls = "h" if i % 2 == 0 else ("hang" if stalled else "c")
            await served.api.create_endpoint(app_id, served.receiver.url(f"/{cls}/{i}"), None)
        kind = "50 stalled" if stalled else "all healthy"
        log(
            f"isolation ({kind}): closed loop, at most {WINDOW:,} healthy deliveries"
            f" outstanding, for {seconds:.0f} s"
        )
        load = await run_loadgen(
            ctx.log_dir,
            f"{name}-load",
            served.port,
            app_id,
            ctx.deadline.sub(seconds + 60),
            "--window",
            WINDOW,
            "--stats",
            served.receiver.url("/__stats"),
            "--cls",
            "h",
            "--per-message",
            ENDPOINTS // 2,
            "--concurrency",
            PUBLISHERS,
            "--seconds",
            seconds,
        )
        publish = load.publish
        healthy_expected = len(publish.accepted) * (ENDPOINTS // 2)
        stats = await served.receiver.wait_count(
            healthy_expected,
            ctx.deadline.sub(GRACE_S),
            cls="h",
            watch=served.server,
            label="healthy delivered",
        )
        got = stats.classes.get("h", 0)
        measured_until = time.time()
        end = None if got >= healthy_expected else measured_until
        receipts = [r for r in await served.receiver.receipts() if r.cls == "h"]
        hung = stats.hung
    row = phase_row(publish, receipts, per_message=ENDPOINTS // 2, end=end)
    row.update(
        {
            "label": "50 stalled" if stalled else "all healthy",
            "hung_requests": hung,
            "server_peak_rss_mb": session.server_peak_rss_mb,
            "server_processes": session.server_processes,
            "shutdown_seconds": session.shutdown_seconds,
            "db": db_counts(session.data_dir, until=measured_until),
        }
    )
    log(
        f"  healthy {row['delivered']:,} / {row['expected_deliveries']:,} at"
        f" {row['delivered_rate']:,.0f}/s; healthy p99 {_ms(row['latency']['p99_ms'])}"
    )
    return row


async def run(ctx: Context) -> dict[str, Any]:
    seconds = ctx.size(20, 6)
    healthy = await one_run(ctx, stalled=False, seconds=seconds)
    stalled = await one_run(ctx, stalled=True, seconds=seconds)
    base = healthy["delivered_rate"]
    return {
        "rows": [healthy, stalled],
        "window": WINDOW,
        "publishers": PUBLISHERS,
        "ratio": stalled["delivered_rate"] / base if base else None,
    }


def _ms(value: float | None) -> str:
    return "never (some did not arrive)" if value is None else f"{value:.1f} ms"
