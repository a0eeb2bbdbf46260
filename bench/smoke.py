"""Smoke benchmark: deliveries per second for 10,000 queued messages.

Publishes 10,000 messages of about 1 KiB to one endpoint through the store, then
starts a real ``hookline worker`` process and times the drain to a local receiver
process on 127.0.0.1 (the same pieces as ``python -m bench``'s drain scenario).
Every attempt is persisted, as in production. Bounded: it gives up after 120 s.

    make bench-smoke            # or: python -m bench.smoke --messages 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.harness import Context, Deadline, free_port, run_async
from bench.processes import stop_all
from bench.scenarios.common import drain
from bench.seed import seed

TIME_LIMIT_S = 120.0


async def main(messages: int, concurrency: int, metrics: bool = True) -> bool:
    deadline = Deadline(TIME_LIMIT_S)
    with tempfile.TemporaryDirectory(prefix="hookline-smoke-") as tmp:
        work = Path(tmp)
        ctx = Context(work_dir=work, log_dir=work, deadline=deadline, quick=False)
        port = free_port()
        seeded = await seed(
            work / "data",
            apps=1,
            endpoints_per_app=1,
            messages=messages,
            url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
            max_in_flight=concurrency,
        )
        print(
            f"published {messages} messages in {seeded.seconds:.2f} s "
            f"({seeded.rate:,.0f} msg/s through the store)",
            flush=True,
        )
        row = await drain(
            ctx,
            seeded,
            port,
            "smoke",
            deadline,
            env={
                "HOOKLINE_WORKER_CONCURRENCY": str(concurrency),
                "HOOKLINE_METRICS": "true" if metrics else "false",
            },
        )
    db = row["db"]
    print(
        f"delivered {row['delivered']} in {row['drain_seconds']:.2f} s: "
        f"{row['rate']:,.0f} deliveries/s (concurrency {concurrency}, "
        f"metrics {'on' if metrics else 'off'}, "
        f"{row['worker_cpu_us_per_delivery'] or 0:,.0f} µs CPU/delivery, "
        f"{db['attempts']} attempts persisted, worker peak RSS "
        f"{row['worker_peak_rss_mb'] or 0:.0f} MB)"
    )
    return bool(row["complete"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--metrics", choices=("on", "off"), default="on")
    args = parser.parse_args()
    try:
        finished = run_async(main(args.messages, args.concurrency, args.metrics == "on"))
    finally:
        stop_all()
    if not finished:
        sys.exit("benchmark did not finish within its time limit")
