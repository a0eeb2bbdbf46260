"""CPU per delivery of a ``hookline worker`` process: what the send path costs end to end.

Seeds one endpoint with N messages of about 1 KiB, drains them with a real worker process
to a ``bench.receiver`` on 127.0.0.1 (as ``bench.smoke``), and reports the worker's user
plus system CPU time (its threads included: the store's writer too) per delivery. CPU
time, unlike a rate, is barely moved by what else the machine runs, so two versions of
the code can be compared on a busy machine; rounds give the spread.

    python -m bench.worker_cpu --messages 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.harness import Deadline, free_port, run_async
from bench.processes import start_worker, stop_all
from bench.receiving import Receiver
from bench.seed import seed

TIME_LIMIT_S = 120.0


async def one_round(messages: int, concurrency: int) -> tuple[float, float] | None:
    """(deliveries/s, worker CPU µs per delivery), or None past the time limit."""
    with tempfile.TemporaryDirectory(prefix="hookline-cpu-") as tmp:
        work = Path(tmp)
        port = free_port()
        seeded = await seed(
            work / "data",
            apps=1,
            endpoints_per_app=1,
            messages=messages,
            url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
            max_in_flight=concurrency,
        )
        async with Receiver(work, "receiver", port=port) as receiver:
            (worker,) = start_worker(
                seeded.data_dir,
                work,
                "worker",
                env={"HOOKLINE_WORKER_CONCURRENCY": str(concurrency)},
            )
            stats = await receiver.wait_count(seeded.deliveries, Deadline(TIME_LIMIT_S))
            cpu = worker.cpu_seconds()
            await worker.stop(grace=30)
    if stats.count < seeded.deliveries or cpu is None:
        return None
    return stats.rate(), cpu / seeded.deliveries * 1e6


async def main(messages: int, concurrency: int, rounds: int) -> bool:
    results = []
    for r in range(rounds):
        found = await one_round(messages, concurrency)
        if found is None:
            return False
        results.append(found)
        print(f"round {r + 1}: {found[0]:,.0f} deliveries/s, {found[1]:.0f} us worker CPU/delivery")
    cpus = sorted(c for _, c in results)
    median = cpus[len(cpus) // 2]
    print(f"worker CPU per delivery: {cpus[0]:.0f}-{cpus[-1]:.0f} us (median {median:.0f})")
    return True


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        finished = run_async(main(args.messages, args.concurrency, args.rounds))
    finally:
        stop_all()
    if not finished:
        sys.exit("benchmark did not finish within its time limit")
