"""isolation: 100 endpoints in one application, 50 of which accept the connection and
never answer (request timeout 15 s), against a run where all 100 answer.

Messages are published through the API, open loop, at 10 msg/s for 20 s (1,000
deliveries/s offered, half of them to the healthy 50). Healthy throughput is the
healthy deliveries that arrived divided by the time from the first publish to the
last healthy arrival (or to the cap, if some never arrived); healthy latency is
publish-to-receive over the healthy deliveries, with missing ones counted as late.
"""

from __future__ import annotations

import time
from typing import Any

from bench.api import publish_paced
from bench.harness import Context, db_counts, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 240.0
CAP_QUICK_S = 120.0
ENDPOINTS = 100
RATE = 10.0
GRACE_S = 45.0


async def one_run(ctx: Context, stalled: bool, seconds: float) -> dict[str, Any]:
    name = "isolation-stalled" if stalled else "isolation-healthy"
    session = ServerSession(ctx, name, HOOKLINE_REQUEST_TIMEOUT="15")
    async with session as served:
        app_id = await served.api.create_app(name)
        for i in range(ENDPOINTS):
            # /h/: the healthy half; /hang/ never answers; /c/ is the healthy control.
            cls = "h" if i % 2 == 0 else ("hang" if stalled else "c")
            await served.api.create_endpoint(app_id, served.receiver.url(f"/{cls}/{i}"), None)
        kind = "50 stalled" if stalled else "all healthy"
        log(f"isolation ({kind}): {RATE:.0f} msg/s x {ENDPOINTS} endpoints for {seconds:.0f} s")
        publish = await publish_paced(served.port, app_id, RATE, seconds, ctx.deadline)
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
        "ratio": stalled["delivered_rate"] / base if base else None,
    }


def _ms(value: float | None) -> str:
    return "never (some did not arrive)" if value is None else f"{value:.1f} ms"
