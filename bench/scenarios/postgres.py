"""postgres: the drain and end-to-end rows on PostgreSQL, many processes on one database.

A throwaway PostgreSQL server (``PostgresServer(durable=True)``: fsync and
synchronous_commit on, the server's defaults) on 127.0.0.1; hookline with its defaults
but for what a PostgreSQL deployment must set in every process
(``HOOKLINE_DATABASE_URL``, one shared ``HOOKLINE_SECRET_KEY``, the admin token).

Rows:
- drain: deliveries to 1 endpoint queued through the store's ``publish`` (into a
  template database, then copied per row), drained by 1 and by 2 ``hookline worker``
  processes;
- end to end: ``hookline migrate``, then 2 API processes (``hookline serve --no-worker``)
  and 2 ``hookline worker`` processes, one load generator per API: open loop at 500
  msg/s in all (the latency figure), then closed loop with 16 publishers per API.

Each row is set against the aiohttp ceiling measured in this scenario before and after
the hookline rows, as the SQLite rows are against theirs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench import baselines
from bench.api import Api, PublishLog, run_loadgen
from bench.harness import HOOKLINE, Context, Deadline, free_port, log
from bench.processes import (
    Proc,
    hookline_env,
    start_process,
    start_server,
    start_worker,
    stop_all,
    wait_http,
)
from bench.receiving import Receiver
from bench.scenarios.common import drain, phase_row
from bench.seed import Seeded, seed
from hookline.signing.at_rest import generate_key
from hookline.testing.postgres import PostgresServer

CAP_FULL_S = 600.0
CAP_QUICK_S = 300.0
PUBLISHERS_PER_API = 16
API_PROCESSES = 2
E2E_WORKERS = 2


def _env(url: str, key: str) -> dict[str, str]:
    return {"HOOKLINE_DATABASE_URL": url, "HOOKLINE_SECRET_KEY": key}


def _copy(server: PostgresServer, template: Seeded, name: str, work: Path) -> Seeded:
    """The seeded queue in a new database (CREATE DATABASE ... TEMPLATE)."""
    assert template.database_url is not None
    source = template.database_url.rsplit("/", 1)[1]
    for _ in range(50):  # the seeding store's sessions may take a moment to go
        try:
            url = server.create_database(name, template=source)
            break
        except psycopg.errors.ObjectInUse:
            time.sleep(0.1)
    else:
        url = server.create_database(name, template=source)
    data_dir = work / name
    data_dir.mkdir()
    env = {**template.env, "HOOKLINE_DATABASE_URL": url}
    return Seeded(
        data_dir,
        template.app_ids,
        template.endpoint_ids,
        template.messages,
        template.deliveries,
        template.seconds,
        template.in_flight_field,
        database_url=url,
        env=env,
    )


async def _drain_rows(ctx: Context, server: PostgresServer, key: str) -> Any:
    deliveries = ctx.size(50_000, 5_000)
    port = free_port()
    url = server.create_database("drain_template")
    with psycopg.connect(url, autocommit=True) as conn:
        # Only the seeding's own sessions: a copy starts with the server's defaults.
        conn.execute("ALTER DATABASE drain_template SET synchronous_commit = off")
    log(f"postgres: seeding {deliveries:,} deliveries to 1 endpoint through the store")
    template = await seed(
        ctx.work_dir / "pg-template",
        apps=1,
        endpoints_per_app=1,
        messages=deliveries,
        url=lambda i: f"http://127.0.0.1:{port}/h/{i}",
        env=_env(url, key),
    )
    log(f"  seeded at {template.rate:,.0f} msg/s")
    rows: list[dict[str, Any]] = []
    for processes in (1, 2):
        if ctx.deadline.remaining() < 60:
            log("postgres: skipping a drain row: the scenario's time cap is nearly spent")
            continue
        name = f"pg-drain-{processes}proc"
        seeded = await asyncio.to_thread(
            _copy, server, template, name.replace("-", "_"), ctx.work_dir
        )
        log(f"postgres: drain, {processes} worker process(es)")
        row = await drain(ctx, seeded, port, name, ctx.deadline.sub(150), processes=processes)
        row.update(
            {"label": "1 endpoint", "processes_asked": processes, "seed_rate": template.rate}
        )
        rows.append(row)
    return rows


def _mode(rate: float | None) -> list[str | float]:
    """One load generator's share: the rate split over the APIs, or its publishers."""
    if rate is None:
        return ["--concurrency", PUBLISHERS_PER_API]
    return ["--rate", rate / API_PROCESSES]


def _merge(logs: list[PublishLog]) -> PublishLog:
    """The publishes of the load generators of one phase, as one log."""
    merged = PublishLog(
        offered=sum(p.offered for p in logs),
        skipped=sum(p.skipped for p in logs),
        started=min(p.started for p in logs),
        finished=max(p.finished for p in logs),
    )
    for one in logs:
        merged.publications += one.publications
        for key, count in one.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + count
    return merged


async def _end_to_end(ctx: Context, server: PostgresServer, key: str) -> Any:
    if ctx.deadline.remaining() < 90:
        raise RuntimeError("not started: the scenario's time cap is nearly spent")
    url = server.create_database("e2e")
    env = _env(url, key)
    # As a deployment does: migrate once, then start the processes of the release.
    migrate = start_process(
        "pg-migrate",
        [HOOKLINE, "migrate"],
        ctx.log_dir,
        hookline_env(ctx.work_dir / "pg-migrate", **env),
    )
    limit = ctx.deadline.sub(60)
    while migrate.alive() and not limit.expired:
        await asyncio.sleep(0.1)
    if migrate.alive():
        raise RuntimeError(f"hookline migrate did not finish in time:\n{migrate.log_tail()}")
    if migrate.popen.returncode:
        raise RuntimeError(f"hookline migrate failed:\n{migrate.log_tail()}")
    phases: list[tuple[str, float | None, float]] = [
        ("500 msg/s", 500.0, ctx.size(15, 4)),
        (
            f"max ({API_PROCESSES} x {PUBLISHERS_PER_API} publishers, closed loop)",
            None,
            ctx.size(15, 4),
        ),
    ]
    procs: list[Proc] = []
    rows: list[dict[str, Any]] = []
    async with (
        Receiver(ctx.log_dir, "pg-e2e-receiver", record=True) as receiver,
        aiohttp.ClientSession() as session,
    ):
        ports = [free_port() for _ in range(API_PROCESSES)]
        for i, port in enumerate(ports):
            procs.append(
                start_server(
                    ctx.work_dir / f"pg-api-{i}",
                    port,
                    ctx.log_dir,
                    f"pg-api-{i}",
                    no_worker=True,
                    env=env,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            await wait_http(session, f"http://127.0.0.1:{port}/api/v1/health", Deadline(30), proc)
        for i in range(E2E_WORKERS):
            procs += start_worker(
                ctx.work_dir / f"pg-worker-{i}", ctx.log_dir, f"pg-e2e-worker-{i}", None, env
            )
        api = Api(session, ports[0])
        app_id = await api.create_app("bench-pg-e2e")
        await api.create_endpoint(app_id, receiver.url("/h/0"), None)
        accepted_total = 0
        seq = 0
        done: list[tuple[str, float | None, PublishLog, float | None]] = []
        for label, rate, seconds in phases:
            if ctx.deadline.remaining() < seconds + 20:
                log(f"postgres: skipping end-to-end {label}: the time cap is nearly spent")
                continue
            log(f"postgres: end-to-end {label} for {seconds:.0f} s")
            loads = await asyncio.gather(
                *(
                    run_loadgen(
                        ctx.log_dir,
                        f"pg-e2e-load-{len(done)}-{i}",
                        port,
                        app_id,
                        ctx.deadline.sub(seconds + 60),
                        *_mode(rate),
                        "--seconds",
                        seconds,
                        "--seq0",
                        seq + i * 10_000_000,
                    )
                    for i, port in enumerate(ports)
                )
            )
            publish = _merge([load.publish for load in loads])
            seq += 100_000_000
            accepted_total += len(publish.accepted)
            log(
                f"  accepted {len(publish.accepted):,} of {publish.offered:,}"
                f" ({publish.accepted_rate():,.0f}/s)"
            )
            stats = await receiver.wait_count(accepted_total, ctx.deadline.sub(45), watch=procs)
            done.append(
                (label, rate, publish, None if stats.count >= accepted_total else time.time())
            )
        receipts = await receiver.receipts()
        peaks = [p for proc in procs for p in proc.tree_peaks()]
        for proc in procs:
            await proc.stop(grace=30)
    for label, rate, publish, end in done:
        row = phase_row(publish, receipts, per_message=1, end=end)
        row.update({"label": label, "rate": rate})
        rows.append(row)
    return {
        "rows": rows,
        "processes": peaks,
        "api_processes": API_PROCESSES,
        "worker_processes": E2E_WORKERS,
    }


async def run(ctx: Context) -> dict[str, Any]:
    ceiling_count = ctx.size(30_000, 5_000)
    ceiling_runs = [await baselines.ceiling(ctx.log_dir, ceiling_count, ctx.deadline.sub(60))]
    server = PostgresServer(durable=True)
    key = generate_key()
    result: dict[str, Any] = {}
    try:
        await asyncio.to_thread(server.start)
        version = await asyncio.to_thread(_server_version, server)
        result["postgres"] = version
        log(f"postgres: {version} on 127.0.0.1:{server.port}, fsync on")
        # One part failing (say, a store verb not yet on PostgreSQL) still runs the other.
        for part, body in (("drain_rows", _drain_rows), ("end_to_end", _end_to_end)):
            try:
                result[part] = await body(ctx, server, key)
            except Exception as exc:
                log(f"postgres: {part} failed: {type(exc).__name__}: {exc}")
                result[f"{part}_error"] = f"{type(exc).__name__}: {str(exc)[:600]}"
                stop_all()
    finally:
        await asyncio.to_thread(server.destroy)
    ceiling_runs.append(await baselines.ceiling(ctx.log_dir, ceiling_count, ctx.deadline.sub(60)))
    result["ceiling"] = baselines.combine_ceiling(ceiling_runs)
    return result


def _server_version(server: PostgresServer) -> str:
    with psycopg.connect(server.url()) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"
