"""Publish throughput through the API, A/B between source trees.

Starts ``hookline serve --dev --no-worker`` (the API alone, default settings) from each
source tree given with ``--src``, in turn, for ``--rounds`` rounds (A B A B ...), each on a
fresh data folder with one application and one endpoint; then ``--concurrency`` keep-alive
aiohttp publishers send ``--requests`` publishes of about 1 KiB in a closed loop. Reports
accepted publishes per second, latency and the server's CPU time per publish (the steadier
figure on a shared machine). ``--health`` sends ``GET /api/v1/health`` instead, the cheapest
request, which shows the cost of the HTTP layer itself. Bounded: every round gives up after
120 s.

    python -m bench.publish_api --src /path/to/old/src --src src --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.api import HEADERS, Api, message_body
from bench.harness import Deadline, free_port, percentile, run_async
from bench.processes import start_server, stop_all
from bench.processes import wait_http as wait_until_up

ROUND_LIMIT_S = 120.0


async def one_round(
    src: Path, requests: int, concurrency: int, work: Path, health: bool
) -> dict[str, float]:
    port = free_port()
    deadline = Deadline(ROUND_LIMIT_S)
    proc = start_server(
        work / "data", port, work, f"api-{port}", no_worker=True, env={"PYTHONPATH": str(src)}
    )
    connector = aiohttp.TCPConnector(limit=concurrency)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_until_up(session, f"http://127.0.0.1:{port}/api/v1/health", deadline, proc)
            api = Api(session, port)
            app_id = await api.create_app("bench")
            await api.create_endpoint(app_id, f"http://127.0.0.1:{free_port()}/h", None)
            url = f"{api.base}/app/{app_id}/msg"
            expected = 202
            if health:
                url, expected = f"{api.base}/health", 204
            latencies: list[float] = []
            errors = 0
            next_seq = iter(range(requests))

            async def publisher() -> None:
                nonlocal errors
                for seq in next_seq:
                    if deadline.expired:
                        return
                    started = time.perf_counter()
                    if health:
                        call = session.get(url, headers=HEADERS)
                    else:
                        call = session.post(url, data=message_body(seq), headers=HEADERS)
                    async with call as r:
                        await r.read()
                        if r.status != expected:
                            errors += 1
                    latencies.append(time.perf_counter() - started)

            cpu_before = proc.cpu_seconds() or 0.0
            started = time.perf_counter()
            await asyncio.gather(*(publisher() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            cpu = (proc.cpu_seconds() or 0.0) - cpu_before
    finally:
        await proc.stop()
    done = len(latencies)
    return {
        "ok": done - errors,
        "errors": errors,
        "rate": (done - errors) / elapsed,
        "p50_ms": (percentile(latencies, 50) or 0.0) * 1000,
        "p99_ms": (percentile(latencies, 99) or 0.0) * 1000,
        "cpu_us": cpu / max(done, 1) * 1e6,
    }


async def main(
    sources: list[Path], rounds: int, requests: int, concurrency: int, health: bool
) -> None:
    results: dict[Path, list[dict[str, float]]] = {src: [] for src in sources}
    for n in range(rounds):
        for src in sources:
            with tempfile.TemporaryDirectory(prefix="hookline-publish-") as tmp:
                row = await one_round(src, requests, concurrency, Path(tmp), health)
            results[src].append(row)
            print(
                f"round {n + 1} {src}: {row['rate']:,.0f}/s, p50 {row['p50_ms']:.1f} ms, "
                f"p99 {row['p99_ms']:.1f} ms, server CPU {row['cpu_us']:.0f} us/request, "
                f"{row['errors']:.0f} errors",
                flush=True,
            )
    for src, rows in results.items():
        print(
            f"median {src}: {statistics.median(r['rate'] for r in rows):,.0f}/s, "
            f"p99 {statistics.median(r['p99_ms'] for r in rows):.1f} ms, "
            f"server CPU {statistics.median(r['cpu_us'] for r in rows):.0f} us/request"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", type=Path, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--health", action="store_true")
    args = parser.parse_args()
    sources = [p.resolve() for p in args.src]
    try:
        run_async(main(sources, args.rounds, args.requests, args.concurrency, args.health))
    finally:
        stop_all()
