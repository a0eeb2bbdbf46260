"""drain: deliveries already queued, then a worker started; deliveries/s until empty.

Rows, every one with the product's defaults (nothing set but the data folder and the
admin token; ``--dev`` for the loopback receiver): 100,000 deliveries to 1 endpoint
drained by one worker process (the headline), the same drained by two worker
processes on the same SQLite file (what contention between processes costs), and
100,000 deliveries spread over 100 endpoints (100 applications, one endpoint each, one
message per delivery). The one-endpoint drain runs again with ``HOOKLINE_METRICS=false``:
the difference is what recording the Prometheus metrics costs. Every attempt is
persisted; the row checks the database afterwards.

Baselines in the same run: the aiohttp ceiling before and after the hookline rows
(their mean is the figure the targets use), the fastest bare senders (a raw asyncio +
httptools client and pyreqwest), and the Celery peer at its best configuration (a
sweep, see ``bench/baselines.py``).
"""

from __future__ import annotations

from typing import Any

from bench import baselines
from bench.harness import Context, free_port, log
from bench.scenarios.common import drain
from bench.seed import seed

CAP_FULL_S = 720.0
CAP_QUICK_S = 300.0


async def run(ctx: Context) -> dict[str, Any]:
    deliveries = ctx.size(100_000, 10_000)
    ceiling_count = ctx.size(30_000, 5_000)
    ceiling_runs = [await baselines.ceiling(ctx.log_dir, ceiling_count, ctx.deadline.sub(60))]
    result: dict[str, Any] = {
        "peer": await baselines.peer(
            ctx.log_dir, ctx.size(3_000, 500), ctx.size(10_000, 1_000), ctx.deadline.sub(300)
        ),
        "bare_senders": [
            await baselines.ceiling(ctx.log_dir, ceiling_count, ctx.deadline.sub(60), client)
            for client in ("raw", "pyreqwest")
        ],
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
    )
    log(f"  seeded through the store at {one.rate:,.0f} msg/s")
    result["seed_rate_1ep"] = one.rate
    # the same drain with metrics off, run next to the headline: what recording costs
    off = {"HOOKLINE_METRICS": "false"}
    rows = [
        ("1 endpoint", one, 1, "drain-1ep", None),
        ("1 endpoint, metrics off", one, 1, "drain-1ep-nometrics", off),
    ]

    log(f"drain: seeding {deliveries:,} deliveries over 100 endpoints")
    many = await seed(
        ctx.work_dir / "drain-100ep-template",
        apps=100,
        endpoints_per_app=1,
        messages=deliveries,
        url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
    )
    log(f"  seeded through the store at {many.rate:,.0f} msg/s")
    rows.append(("100 endpoints", many, 1, "drain-100ep", None))
    rows.append(("1 endpoint", one, 2, "drain-1ep-2proc", None))

    for label, template, processes, name, env in rows:
        if ctx.deadline.remaining() < 40:
            log(f"drain: skipping {name}: the scenario's time cap is nearly spent")
            continue
        log(f"drain: {label}, {processes} worker process(es), defaults")
        seeded = template.copy_to(ctx.work_dir / name)
        row = await drain(
            ctx, seeded, port, name, ctx.deadline.sub(150), processes=processes, env=env
        )
        row.update({"label": label, "processes_asked": processes, "defaults": env is None})
        result["rows"].append(row)
    # The ceiling again after the hookline rows: one short run is noisy on a shared box.
    ceiling_runs.append(await baselines.ceiling(ctx.log_dir, ceiling_count, ctx.deadline.sub(60)))
    result["ceiling"] = baselines.combine_ceiling(ceiling_runs)
    return result
