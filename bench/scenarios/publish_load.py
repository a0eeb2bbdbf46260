"""publish-under-load: does publishing wait behind delivery?

A backlog of 100,000 deliveries (1,000 messages x 100 endpoints) is seeded, then the
API is measured while something drains it. ``bench/loadgen.py`` (its own process)
publishes 100 msg/s open loop to another application (one endpoint) and sends
``GET /api/v1/health`` 20 times a second, for 15 s per row; it reports each request's
latency. Rows, in order:

1. ``hookline serve --no-worker`` on the seeded file, nothing draining: the API alone;
2. the same API while a ``hookline worker`` process drains the backlog from the same
   SQLite file: what contention between processes on one file costs the API;
3. ``hookline serve`` with its defaults on a fresh copy of the backlog (the headline:
   the worker is saturated by the backlog while the API answers).

Each row also reports the deliveries/s the worker managed meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from bench.api import Api, run_loadgen
from bench.harness import Context, Deadline, free_port, latency_summary, log
from bench.processes import Proc, start_server, start_worker, wait_http
from bench.receiving import Receiver
from bench.seed import Seeded, seed

CAP_FULL_S = 240.0
CAP_QUICK_S = 120.0
ENDPOINTS = 100
PUBLISH_RATE = 100.0
HEALTH_RATE = 20.0


async def measure(
    ctx: Context, name: str, port: int, app_id: str, receiver: Receiver, seconds: float
) -> dict[str, Any]:
    before = await receiver.stats()
    load = await run_loadgen(
        ctx.log_dir,
        f"{name}-load",
        port,
        app_id,
        ctx.deadline.sub(seconds + 60),
        "--rate",
        PUBLISH_RATE,
        "--seconds",
        seconds,
        "--health-rate",
        HEALTH_RATE,
    )
    after = await receiver.stats()
    publish = load.publish
    span = publish.finished - publish.started
    drained = after.classes.get("h", 0) - before.classes.get("h", 0)
    row: dict[str, Any] = {
        "name": name,
        "offered": publish.offered,
        "accepted": len(publish.accepted),
        "errors": publish.errors,
        "publish_latency": publish.api_latency(),
        "health_latency": latency_summary(load.health_latencies_s),
        "drained": drained,
        "drain_rate": drained / span if span > 0 else 0.0,
    }
    pub, health = row["publish_latency"], row["health_latency"]
    log(
        f"  {name}: publish p50 {pub['p50_ms'] or 0:.1f} ms p99 {pub['p99_ms'] or 0:.1f} ms,"
        f" health p50 {health['p50_ms'] or 0:.1f} ms p99 {health['p99_ms'] or 0:.1f} ms;"
        f" {row['drain_rate']:,.0f} deliveries/s drained meanwhile"
    )
    return row


async def api_up(ctx: Context, data_dir: Path, name: str, **kw: Any) -> tuple[Proc, int]:
    port = free_port()
    proc = start_server(data_dir, port, ctx.log_dir, name, **kw)
    async with aiohttp.ClientSession() as probe:
        await wait_http(probe, f"http://127.0.0.1:{port}/api/v1/health", Deadline(30), proc)
    return proc, port


async def run(ctx: Context) -> dict[str, Any]:
    seconds = ctx.size(15, 5)
    port = free_port()
    log(f"publish-under-load: seeding {ctx.size(1_000, 200) * ENDPOINTS:,} deliveries")
    template: Seeded = await seed(
        ctx.work_dir / "pl-template",
        apps=1,
        endpoints_per_app=ENDPOINTS,
        messages=ctx.size(1_000, 200),
        url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
    )
    rows: list[dict[str, Any]] = []
    async with Receiver(ctx.log_dir, "pl-receiver", port=port) as receiver:
        # 1 and 2: the API in its own process, then a worker process beside it.
        split = template.copy_to(ctx.work_dir / "pl-split")
        api_proc, api_port = await api_up(ctx, split.data_dir, "pl-api", no_worker=True)
        worker: list[Proc] = []
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(session, api_port)
                app_id = await api.create_app("probe")
                await api.create_endpoint(app_id, receiver.url("/p/0"), None)
                log("publish-under-load: API alone, nothing draining")
                rows.append(await measure(ctx, "api-idle", api_port, app_id, receiver, seconds))
                worker = start_worker(split.data_dir, ctx.log_dir, "pl-worker", 1)
                await receiver.wait_count(1, ctx.deadline.sub(30), cls="h", watch=worker)
                log("publish-under-load: API process + a worker process draining")
                row = await measure(ctx, "api-plus-worker", api_port, app_id, receiver, seconds)
                row["processes"] = api_proc.tree_peaks() + [
                    p for w in worker for p in w.tree_peaks()
                ]
                rows.append(row)
        finally:
            for w in worker:
                await w.stop(grace=30)
            await api_proc.stop(grace=30)
        # 3: hookline serve with its defaults.
        whole = template.copy_to(ctx.work_dir / "pl-serve")
        serve, serve_port = await api_up(ctx, whole.data_dir, "pl-serve")
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(session, serve_port)
                app_id = await api.create_app("probe")
                await api.create_endpoint(app_id, receiver.url("/p/0"), None)
                drained = (await receiver.stats()).classes.get("h", 0)
                await receiver.wait_count(drained + 1, ctx.deadline.sub(30), cls="h", watch=serve)
                log("publish-under-load: hookline serve (defaults), backlog draining")
                row = await measure(ctx, "serve", serve_port, app_id, receiver, seconds)
                row["processes"] = serve.tree_peaks()
                rows.append(row)
        finally:
            await serve.stop(grace=30)
    return {
        "rows": rows,
        "backlog": template.deliveries,
        "publish_rate": PUBLISH_RATE,
        "health_rate": HEALTH_RATE,
        "seconds": seconds,
    }
