"""fan-out: one application with 100 endpoints, 1,000 messages published through the
API by 8 closed-loop publishers (``bench/loadgen.py``, its own process), so 100,000
deliveries; messages accepted per second, deliveries per second from the first
publish to the last arrival, and publish-to-receive latency. ``hookline serve`` runs
with its defaults. The delivery target compares with the drain scenario's one-endpoint
headline rate."""

from __future__ import annotations

import time
from typing import Any

from bench.api import run_loadgen
from bench.harness import Context, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 240.0
CAP_QUICK_S = 90.0
ENDPOINTS = 100
PUBLISHERS = 8


async def run(ctx: Context) -> dict[str, Any]:
    messages = ctx.size(1_000, 200)
    session = ServerSession(ctx, "fanout")
    async with session as served:
        app_id = await served.api.create_app("bench-fanout")
        for i in range(ENDPOINTS):
            await served.api.create_endpoint(app_id, served.receiver.url(f"/h/{i}"), None)
        log(f"fan-out: publishing {messages:,} messages to {ENDPOINTS} endpoints")
        load = await run_loadgen(
            ctx.log_dir,
            "fanout-load",
            served.port,
            app_id,
            ctx.deadline.sub(90),
            "--concurrency",
            PUBLISHERS,
            "--count",
            messages,
        )
        publish = load.publish
        expected = len(publish.accepted) * ENDPOINTS
        log(
            f"  accepted {len(publish.accepted):,} ({publish.accepted_rate():,.0f} msg/s);"
            f" waiting for {expected:,} deliveries"
        )
        stats = await served.receiver.wait_count(
            expected, ctx.deadline.sub(ctx.deadline.remaining() - 20), watch=served.server
        )
        end = None if stats.count >= expected else time.time()
        receipts = await served.receiver.receipts()
    row = phase_row(publish, receipts, per_message=ENDPOINTS, end=end)
    # Deliveries/s once they flow: first to last arrival, not counting the wait for the
    # first one (which the latency columns show).
    arrivals = sorted(r.at for r in receipts)
    if len(arrivals) > 1 and arrivals[-1] > arrivals[0]:
        row["flow_rate"] = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    row.update(
        {
            "endpoints": ENDPOINTS,
            "messages": messages,
            "label": f"{messages:,} messages x {ENDPOINTS} endpoints, {PUBLISHERS} publishers",
        }
    )
    log(
        f"fan-out: {row['delivered']:,} / {expected:,} delivered at"
        f" {row['delivered_rate']:,.0f}/s (flowing at {row.get('flow_rate', 0):,.0f}/s)"
    )
    return {
        "rows": [row],
        "server_peak_rss_mb": session.server_peak_rss_mb,
        "server_processes": session.server_processes,
        "shutdown_seconds": session.shutdown_seconds,
    }
