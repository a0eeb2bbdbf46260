"""Pieces shared by the scenarios: a worker draining a seeded queue, a server with a
recording receiver, and the numbers every row reports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.api import Api, PublishLog, join_latency
from bench.harness import (
    Context,
    Deadline,
    db_counts,
    free_port,
    latency_summary,
    log,
    pg_counts,
    slice_rates,
)
from bench.machine import cpu_snapshot, foreign_cores
from bench.processes import Proc, start_server, start_worker, wait_http
from bench.receiving import Receipt, Receiver, ReceiverStats
from bench.seed import Seeded


async def drain(
    ctx: Context,
    seeded: Seeded,
    port: int,
    name: str,
    deadline: Deadline,
    until: int | None = None,
    check_db: bool = True,
    processes: int | None = 1,
    env: dict[str, str] | None = None,
    mark: int = 0,
) -> dict[str, Any]:
    """Start ``processes`` worker processes (default settings plus ``env``) on an already
    seeded queue and time them until ``until`` deliveries (default: all of them) reached
    the receiver on ``port``, then stop them with SIGTERM. ``mark``: the receiver times
    every ``mark``-th arrival, for rates per slice."""
    target = seeded.deliveries if until is None else until
    cpu_before = cpu_snapshot()
    async with Receiver(ctx.log_dir, f"{name}-receiver", port=port, mark=mark) as receiver:
        workers = start_worker(
            seeded.data_dir, ctx.log_dir, f"{name}-worker", processes, {**seeded.env, **(env or {})}
        )
        started = time.monotonic()
        every = 0.02 if until is not None else 0.1
        stats = await receiver.wait_count(target, deadline, watch=workers, every=every)
        peaks = [p for w in workers for p in w.tree_peaks()]
        cpu = sum(w.cpu_seconds() or 0.0 for w in workers)
        rss_now = sum(w.rss_mb() or 0.0 for w in workers)
        wall = time.monotonic() - started
        shutdown_s = max([await w.stop(grace=60) for w in workers])
        final = await receiver.stats()
    other_load = foreign_cores(cpu_before, cpu_snapshot())  # every process is reaped now
    peak = max((p["peak_rss_mb"] for p in peaks), default=None)
    row: dict[str, Any] = {
        "queued": seeded.deliveries,
        "target": target,
        "delivered": stats.count,
        "complete": stats.count >= target,
        "rate": stats.rate(),
        "drain_seconds": stats.last - stats.first,
        "wall_seconds_from_start": wall,
        "worker_processes": len(peaks),
        "processes": peaks,
        "worker_peak_rss_mb": peak,
        "worker_rss_mb_at_end": rss_now,
        "worker_cpu_cores": cpu / wall if wall > 0 else None,
        "worker_cpu_us_per_delivery": cpu / stats.count * 1e6 if stats.count else None,
        "shutdown_seconds": shutdown_s,
        "received_total": final.count,
        "other_load_cores": round(other_load, 3),
        "settings": dict(env or {}),
    }
    if mark:
        row["slice"] = mark
        row["slice_rates"] = slice_rates(stats.first, final.marks)
    if check_db:
        url = seeded.database_url
        row["db"] = db_counts(seeded.data_dir) if url is None else pg_counts(url)
    log(
        f"  {name}: {stats.count:,} / {target:,} in {row['drain_seconds']:.1f} s ="
        f" {row['rate']:,.0f} deliveries/s; {len(peaks)} process(es), peak RSS"
        f" {peak or 0:.0f} MB, CPU {row['worker_cpu_cores'] or 0:.2f} cores;"
        f" SIGTERM to exit {shutdown_s:.1f} s; other load {other_load:.2f} cores"
    )
    return row


@dataclass
class Served:
    """``hookline serve`` (its defaults: API and worker, in one process or a tree) with a
    recording receiver."""

    receiver: Receiver
    server: Proc
    api: Api
    port: int
    session: aiohttp.ClientSession


class ServerSession:
    def __init__(self, ctx: Context, name: str, env: dict[str, str] | None = None) -> None:
        self.ctx = ctx
        self.name = name
        self.env = env or {}
        self.receiver = Receiver(ctx.log_dir, f"{name}-receiver", record=True)
        self.served: Served | None = None
        self.data_dir = ctx.work_dir / name
        self.server_peak_rss_mb: float | None = None
        self.server_processes: list[dict[str, Any]] = []
        self.shutdown_seconds: float | None = None

    async def __aenter__(self) -> Served:
        await self.receiver.__aenter__()
        port = free_port()
        server = start_server(
            self.data_dir, port, self.ctx.log_dir, f"{self.name}-server", env=self.env
        )
        session = aiohttp.ClientSession()
        url = f"http://127.0.0.1:{port}/api/v1/health"
        try:
            await wait_http(session, url, Deadline(30), server)
        except BaseException:
            await session.close()
            await server.stop(grace=5)
            await self.receiver.__aexit__(None, None, None)
            raise
        self.served = Served(self.receiver, server, Api(session, port), port, session)
        return self.served

    async def __aexit__(self, *exc: object) -> None:
        served = self.served
        if served is not None:
            self.server_processes = served.server.tree_peaks()
            self.server_peak_rss_mb = served.server.peak_rss_mb()
            await served.session.close()
            # Stop the receiver first: requests left hanging fail at once instead of
            # holding the server's shutdown for the whole request timeout.
            await self.receiver.proc.stop(grace=5)
            self.shutdown_seconds = await served.server.stop(grace=30)
        await self.receiver.__aexit__(*exc)


def phase_row(
    publish: PublishLog,
    receipts: list[Receipt],
    per_message: int,
    end: float | None = None,
) -> dict[str, Any]:
    """The numbers of one publishing phase: accepted/s, delivered/s, API latency and
    publish-to-receive latency of the deliveries of the messages it published."""
    accepted = publish.accepted
    ids = {p.msg_id for p in accepted}
    mine = [r for r in receipts if r.msg_id in ids]
    latencies, missing = join_latency(accepted, mine, per_message)
    last = max((r.at for r in mine), default=publish.started)
    span = (end if end is not None and missing else last) - publish.started
    return {
        "offered": publish.offered,
        "skipped_client_side": publish.skipped,
        "accepted": len(accepted),
        "errors": publish.errors,
        "accepted_rate": publish.accepted_rate(),
        "publish_seconds": publish.finished - publish.started,
        "api_latency": publish.api_latency(),
        "expected_deliveries": len(accepted) * per_message,
        "delivered": len(mine),
        "delivered_rate": len(mine) / span if span > 0 else 0.0,
        "latency": latency_summary(latencies, missing),
    }


async def wait_delivered(
    receiver: Receiver, target: int, deadline: Deadline, watch: Proc, cls: str | None = None
) -> ReceiverStats:
    return await receiver.wait_count(target, deadline, cls=cls, watch=watch)
