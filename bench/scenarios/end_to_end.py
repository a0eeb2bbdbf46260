"""end-to-end: publish through the HTTP API of ``hookline serve`` (API and worker in
one process) to one endpoint; accepted/s, delivered/s, publish-to-receive latency.

Phases: open-loop at 500 msg/s, open-loop at 2,000 msg/s, then closed-loop with 32
publishers back to back (the highest rate the API sustains). Each phase waits until
its messages are delivered (or its cap) before the next starts. Latency runs from
just before the publish request is sent to the receiver's arrival timestamp.
"""

from __future__ import annotations

import time
from typing import Any

from bench.api import PublishLog, publish_closed, publish_paced
from bench.harness import WORKER_CONCURRENCY, Context, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 240.0
CAP_QUICK_S = 90.0
CLOSED_LOOP_PUBLISHERS = 32


async def run(ctx: Context) -> dict[str, Any]:
    phases: list[tuple[str, float | None, float]] = [
        ("500 msg/s", 500.0, ctx.size(20, 5)),
        ("2,000 msg/s", 2000.0, ctx.size(15, 4)),
        (f"max ({CLOSED_LOOP_PUBLISHERS} publishers, closed loop)", None, ctx.size(15, 4)),
    ]
    session = ServerSession(ctx, "e2e")
    rows: list[dict[str, Any]] = []
    logs: list[tuple[str, float | None, PublishLog, float | None, float]] = []
    async with session as served:
        app_id = await served.api.create_app("bench-e2e")
        await served.api.create_endpoint(
            app_id, served.receiver.url("/h/0"), max_in_flight=WORKER_CONCURRENCY
        )
        accepted_total = 0
        seq = 0
        for label, rate, seconds in phases:
            if ctx.deadline.remaining() < seconds + 10:
                log(f"end-to-end: skipping {label}: the scenario's time cap is nearly spent")
                continue
            log(f"end-to-end: {label} for {seconds:.0f} s")
            cpu_before = served.server.cpu_seconds() or 0.0
            wall_before = time.monotonic()
            if rate is not None:
                publish = await publish_paced(
                    served.port, app_id, rate, seconds, ctx.deadline, seq0=seq
                )
            else:
                publish = await publish_closed(
                    served.port,
                    app_id,
                    CLOSED_LOOP_PUBLISHERS,
                    ctx.deadline,
                    duration=seconds,
                    seq0=seq,
                )
            seq += publish.offered
            accepted_total += len(publish.accepted)
            log(
                f"  accepted {len(publish.accepted):,} of {publish.offered:,}"
                f" ({publish.accepted_rate():,.0f}/s); waiting for delivery"
            )
            stats = await served.receiver.wait_count(
                accepted_total, ctx.deadline.sub(45), watch=served.server
            )
            end = None if stats.count >= accepted_total else time.time()
            cpu = ((served.server.cpu_seconds() or 0.0) - cpu_before) / (
                time.monotonic() - wall_before
            )
            logs.append((label, rate, publish, end, cpu))
        receipts = await served.receiver.receipts()
    for label, rate, publish, end, cpu in logs:
        row = phase_row(publish, receipts, per_message=1, end=end)
        row.update({"label": label, "rate": rate, "server_cpu_cores": round(cpu, 2)})
        lat = row["latency"]
        log(
            f"end-to-end {label}: accepted {row['accepted_rate']:,.0f}/s, delivered"
            f" {row['delivered_rate']:,.0f}/s, latency p50 {_ms(lat['p50_ms'])}"
            f" p99 {_ms(lat['p99_ms'])} max {_ms(lat['max_ms'])}"
        )
        rows.append(row)
    return {
        "rows": rows,
        "server_peak_rss_mb": session.server_peak_rss_mb,
        "shutdown_seconds": session.shutdown_seconds,
    }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
