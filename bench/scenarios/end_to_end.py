"""end-to-end: publish through the HTTP API of ``hookline serve`` (product defaults:
however many processes it runs by default) to one endpoint; accepted/s, delivered/s,
publish-to-receive latency.

The publisher is ``bench/loadgen.py`` in its own process, so its CPU is not the
harness's. Phases: open loop at 500 msg/s (the latency target), open loop at 2,000
msg/s, then closed loop with 32 publishers back to back (the throughput target,
against the aiohttp ceiling measured in this scenario). Each phase waits until its
messages are delivered (or its cap) before the next starts. Latency runs from just
before the publish request is sent to the receiver's arrival timestamp (one clock).
"""

from __future__ import annotations

import time
from typing import Any

from bench import baselines
from bench.api import PublishLog, run_loadgen
from bench.harness import Context, log
from bench.scenarios.common import ServerSession, phase_row

CAP_FULL_S = 240.0
CAP_QUICK_S = 120.0
CLOSED_LOOP_PUBLISHERS = 32


async def run(ctx: Context) -> dict[str, Any]:
    phases: list[tuple[str, float | None, float]] = [
        ("500 msg/s", 500.0, ctx.size(20, 5)),
        ("2,000 msg/s", 2000.0, ctx.size(15, 4)),
        (f"max ({CLOSED_LOOP_PUBLISHERS} publishers, closed loop)", None, ctx.size(15, 4)),
    ]
    ceiling = await baselines.ceiling(ctx.log_dir, ctx.size(20_000, 5_000), ctx.deadline.sub(45))
    session = ServerSession(ctx, "e2e")
    rows: list[dict[str, Any]] = []
    logs: list[tuple[str, float | None, PublishLog, float | None, float, float | None]] = []
    async with session as served:
        app_id = await served.api.create_app("bench-e2e")
        await served.api.create_endpoint(app_id, served.receiver.url("/h/0"), None)
        accepted_total = 0
        seq = 0
        for label, rate, seconds in phases:
            if ctx.deadline.remaining() < seconds + 15:
                log(f"end-to-end: skipping {label}: the scenario's time cap is nearly spent")
                continue
            log(f"end-to-end: {label} for {seconds:.0f} s")
            cpu_before = served.server.cpu_seconds() or 0.0
            wall_before = time.monotonic()
            mode: list[str | float] = (
                ["--rate", rate] if rate is not None else ["--concurrency", CLOSED_LOOP_PUBLISHERS]
            )
            load = await run_loadgen(
                ctx.log_dir,
                f"e2e-load-{len(logs)}",
                served.port,
                app_id,
                ctx.deadline.sub(seconds + 60),
                *mode,
                "--seconds",
                seconds,
                "--seq0",
                seq,
            )
            publish = load.publish
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
            loadgen_cores = (
                load.cpu_seconds / (publish.finished - publish.started)
                if load.cpu_seconds and publish.finished > publish.started
                else None
            )
            logs.append((label, rate, publish, end, cpu, loadgen_cores))
        receipts = await served.receiver.receipts()
    for label, rate, publish, end, cpu, loadgen_cores in logs:
        row = phase_row(publish, receipts, per_message=1, end=end)
        row.update(
            {
                "label": label,
                "rate": rate,
                "server_cpu_cores": round(cpu, 2),
                "loadgen_cpu_cores": round(loadgen_cores, 2) if loadgen_cores else None,
            }
        )
        lat = row["latency"]
        log(
            f"end-to-end {label}: accepted {row['accepted_rate']:,.0f}/s, delivered"
            f" {row['delivered_rate']:,.0f}/s, latency p50 {_ms(lat['p50_ms'])}"
            f" p99 {_ms(lat['p99_ms'])} max {_ms(lat['max_ms'])}"
        )
        rows.append(row)
    return {
        "rows": rows,
        "ceiling": ceiling,
        "server_peak_rss_mb": session.server_peak_rss_mb,
        "server_processes": session.server_processes,
        "shutdown_seconds": session.shutdown_seconds,
    }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
