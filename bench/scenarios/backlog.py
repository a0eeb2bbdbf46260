"""backlog: does a deep queue slow the worker down or grow it?

One application with 100 endpoints; 10,000 messages fanned out make 1,000,000 queued
deliveries (seeded through ``store.publish``). One worker process with its defaults
drains all of them; the receiver timestamps every 100,000th arrival, so the rate of
each 100,000 slice is compared with a worker draining a 10,000-delivery backlog of the
same shape (100 messages x 100 endpoints) to the end. Memory is each worker process's
peak RSS (VmHWM) over the whole drain.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Context, free_port, log
from bench.scenarios.common import drain
from bench.seed import seed

CAP_FULL_S = 780.0
CAP_QUICK_S = 200.0
ENDPOINTS = 100


async def run(ctx: Context) -> dict[str, Any]:
    deep_messages = ctx.size(10_000, 1_000)
    slice_size = ctx.size(100_000, 10_000)
    port = free_port()

    def url(i: int) -> str:
        return f"http://127.0.0.1:{port}/h/{i}"

    log(f"backlog: seeding {100 * ENDPOINTS:,} deliveries")
    small = await seed(
        ctx.work_dir / "backlog-10k", apps=1, endpoints_per_app=ENDPOINTS, messages=100, url=url
    )
    shallow = await drain(ctx, small, port, "backlog-10k", ctx.deadline.sub(60))
    shallow["label"] = f"{small.deliveries:,} queued, drained to the end"

    log(f"backlog: seeding {deep_messages * ENDPOINTS:,} deliveries")
    big = await seed(
        ctx.work_dir / "backlog-deep",
        apps=1,
        endpoints_per_app=ENDPOINTS,
        messages=deep_messages,
        url=url,
    )
    log(
        f"  seeded {big.deliveries:,} deliveries in {big.seconds:.0f} s"
        f" ({big.deliveries / big.seconds:,.0f} deliveries/s through the store)"
    )
    db_file = big.data_dir / "hookline.db"
    db_mb = db_file.stat().st_size / 1024 / 1024 if db_file.exists() else None
    deep = await drain(
        ctx,
        big,
        port,
        "backlog-deep",
        ctx.deadline.sub(ctx.deadline.remaining() - 15),
        check_db=False,
        mark=slice_size,
    )
    deep["label"] = f"{big.deliveries:,} queued, drained to the end"
    deep["seed_seconds"] = big.seconds
    deep["db_mb"] = db_mb
    base = shallow["rate"]
    slices = deep.get("slice_rates") or []
    return {
        "rows": [shallow, deep],
        "ratio": deep["rate"] / base if base else None,
        "slice_ratios": [r / base for r in slices] if base else [],
        "worst_slice_ratio": min(slices) / base if base and slices else None,
    }
