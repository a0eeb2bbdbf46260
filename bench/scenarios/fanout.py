"""fan-out: one application with 100 endpoints, 2,000 messages published through the
API (8 publishers back to back), so 200,000 deliveries; publish rate, delivery rate and
publish-to-receive latency until every delivery arrived (or the cap)."""

from __future__ import annotations

import time
from typing import Any

from bench.api import publish_closed
from bench.harness import Context, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 330.0
CAP_QUICK_S = 90.0
ENDPOINTS = 100
PUBLISHERS = 8


async def run(ctx: Context) -> dict[str, Any]:
    messages = ctx.size(2_000, 200)
    session = ServerSession(ctx, "fanout")
    async with session as served:
        app_id = await served.api.create_app("bench-fanout")
        for i in range(ENDPOINTS):
            await served.api.create_endpoint(app_id, served.receiver.url(f"/h/{i}"), None)
        log(f"fan-out: publishing {messages:,} messages to {ENDPOINTS} endpoints")
        publish = await publish_closed(
            served.port, app_id, PUBLISHERS, ctx.deadline, count=messages
        )
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
    row.update(
        {
            "endpoints": ENDPOINTS,
            "messages": messages,
            "label": f"{messages:,} messages x {ENDPOINTS} endpoints, {PUBLISHERS} publishers",
        }
    )
    log(f"fan-out: {row['delivered']:,} / {expected:,} delivered at {row['delivered_rate']:,.0f}/s")
    return {
        "rows": [row],
        "server_peak_rss_mb": session.server_peak_rss_mb,
        "shutdown_seconds": session.shutdown_seconds,
    }
