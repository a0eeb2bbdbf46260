"""The publishing load generator, in its own process so its CPU is not the harness's.

Publishes ~1 KiB messages to ``/api/v1/app/{app}/msg`` of a running hookline and writes
what happened to ``--out`` as JSON (every publication's message id, send and answer
times and status), for the harness to join with the receiver's arrival times. Modes:

- ``--rate R --seconds S``: open loop, request i sent at ``t0 + i / R``;
- ``--concurrency C`` with ``--seconds S`` or ``--count N``: closed loop, C publishers
  back to back;
- ``--window W --stats URL --per-message K``: closed loop end to end: ``--concurrency``
  publishers keep at most W deliveries (K per message, counted by the receiver's
  ``/__stats``, class ``--cls``) published but not yet received, for ``--seconds``.
  This offers a worker as much as it can deliver, and no more.

``--health-rate H`` also sends ``GET /api/v1/health`` at H per second meanwhile and
records their latencies.

    python -m bench.loadgen --port 8000 --app app_x --rate 500 --seconds 20 --out pub.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.api import PublishLog, publish_closed, publish_paced
from bench.harness import Deadline, run_async

LIMIT_S = 300.0  # no run of the load generator lasts longer


async def health_loop(port: int, rate: float, stop: asyncio.Event, out: list[float]) -> None:
    """``GET /health`` at ``rate`` per second (open loop) until ``stop``."""
    url = f"http://127.0.0.1:{port}/api/v1/health"
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one() -> None:
            started = time.perf_counter()
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status < 300:
                        out.append(time.perf_counter() - started)

        t0, sent = loop.time(), 0
        while not stop.is_set():
            if sent <= (loop.time() - t0) * rate:
                task = asyncio.create_task(one())
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(max(0.0, min(0.01, t0 + sent / rate - loop.time())))
        if pending:
            await asyncio.wait(pending, timeout=10)


async def publish_window(
    port: int, app_id: str, args: argparse.Namespace, deadline: Deadline
) -> PublishLog:
    """Closed loop end to end: publish while fewer than ``window`` deliveries are
    outstanding (published x per-message minus received)."""
    delivered = 0
    stop = asyncio.Event()

    async def poll(session: aiohttp.ClientSession) -> None:
        nonlocal delivered
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with session.get(args.stats) as resp:
                    stats = orjson.loads(await resp.read())
                delivered = int(stats["classes"].get(args.cls, 0)) - baseline
            await asyncio.sleep(0.005)

    async with aiohttp.ClientSession() as session:
        async with session.get(args.stats) as resp:
            baseline = int(orjson.loads(await resp.read())["classes"].get(args.cls, 0))
        poller = asyncio.create_task(poll(session))

        def may_publish(out: PublishLog) -> bool:
            published = out.offered - sum(out.errors.values())
            window: int = args.window
            return bool(published * args.per_message - delivered < window)

        out = await publish_closed(
            port,
            app_id,
            args.concurrency,
            deadline,
            duration=args.seconds,
            seq0=args.seq0,
            gate=may_publish,
        )
        stop.set()
        await poller
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    deadline = Deadline(min(LIMIT_S, (args.seconds or LIMIT_S) + 60))
    stop = asyncio.Event()
    health: list[float] = []
    health_task = None
    if args.health_rate:
        health_task = asyncio.create_task(health_loop(args.port, args.health_rate, stop, health))
    if args.window:
        out = await publish_window(args.port, args.app, args, deadline)
    elif args.rate:
        out = await publish_paced(
            args.port, args.app, args.rate, args.seconds, deadline, seq0=args.seq0
        )
    else:
        out = await publish_closed(
            args.port,
            args.app,
            args.concurrency,
            deadline,
            duration=args.seconds,
            count=args.count,
            seq0=args.seq0,
        )
    stop.set()
    if health_task is not None:
        await health_task
    return {
        "offered": out.offered,
        "skipped": out.skipped,
        "errors": out.errors,
        "started": out.started,
        "finished": out.finished,
        "publications": [[p.msg_id, p.sent_at, p.answered_at, p.status] for p in out.publications],
        "health_latencies_s": health,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seq0", type=int, default=0)
    parser.add_argument("--window", type=int, default=0)
    parser.add_argument("--stats", default="")
    parser.add_argument("--cls", default="h")
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--health-rate", type=float, default=0.0)
    args = parser.parse_args()
    if args.seconds is None and args.count is None:
        parser.error("give --seconds or --count")
    result = run_async(main(args))
    tmp = args.out.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(result))
    tmp.replace(args.out)


if __name__ == "__main__":
    cli()
