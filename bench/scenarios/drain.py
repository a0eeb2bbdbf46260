"""drain: deliveries already queued, then a worker started; deliveries/s until empty.

Rows: 100,000 deliveries to 1 endpoint (its in-flight cap set to the worker's
concurrency where the model has one), the same with ``synchronous=FULL``, and 100,000
deliveries spread over 100 endpoints (100 applications, one endpoint each, one
message per delivery). Every attempt is persisted; the row checks the database
afterwards. The ceiling (before and after the hookline rows; their mean is the
figure) and the Celery peer are measured in the same run.
"""

from __future__ import annotations

from typing import Any

from bench import baselines
from bench.harness import WORKER_CONCURRENCY, Context, free_port, log
from bench.scenarios.common import drain
from bench.seed import seed

CAP_FULL_S = 540.0
CAP_QUICK_S = 200.0


async def run(ctx: Context) -> dict[str, Any]:
    deliveries = ctx.size(100_000, 10_000)
    ceiling_runs = [
        await baselines.ceiling(ctx.log_dir, ctx.size(30_000, 5_000), ctx.deadline.sub(60))
    ]
    result: dict[str, Any] = {
        "peer": await baselines.peer(ctx.log_dir, ctx.size(10_000, 2_000), ctx.deadline.sub(180)),
        "rows": [],
    }

    port = free_port()
    log(f"drain: seeding {deliveries:,} deliveries to 1 endpoint")
    one = await seed(
        ctx.work_dir / "drain-1ep-template",
        apps=1,
        endpoints_per_app=1,
        messages=deliveries,
        url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
        max_in_flight=WORKER_CONCURRENCY,
    )
    log(f"  seeded through the store at {one.rate:,.0f} msg/s")
    result["seed_rate_1ep"] = one.rate
    result["in_flight_field"] = one.in_flight_field
    rows = [("1 endpoint", one, "NORMAL", "drain-1ep-normal")]

    log(f"drain: seeding {deliveries:,} deliveries over 100 endpoints")
    many = await seed(
        ctx.work_dir / "drain-100ep-template",
        apps=100,
        endpoints_per_app=1,
        messages=deliveries,
        url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
    )
    log(f"  seeded through the store at {many.rate:,.0f} msg/s")
    rows.append(("100 endpoints", many, "NORMAL", "drain-100ep-normal"))
    rows.append(("1 endpoint", one, "FULL", "drain-1ep-full"))

    for label, template, synchronous, name in rows:
        if ctx.deadline.remaining() < 30:
            log(f"drain: skipping {name}: the scenario's time cap is nearly spent")
            continue
        log(f"drain: {label}, synchronous={synchronous}")
        seeded = template.copy_to(ctx.work_dir / name)
        row = await drain(ctx, seeded, port, name, ctx.deadline.sub(150), synchronous=synchronous)
        row.update({"label": label, "synchronous": synchronous})
        result["rows"].append(row)
    # The ceiling again after the hookline rows: one short run is noisy on a shared box.
    ceiling_runs.append(
        await baselines.ceiling(ctx.log_dir, ctx.size(30_000, 5_000), ctx.deadline.sub(60))
    )
    result["ceiling"] = baselines.combine_ceiling(ceiling_runs)
    return result
