"""``python -m bench.pg_drivers``: asyncpg against psycopg 3 on the store's hot paths.

    python -m bench.pg_drivers                         # 3 runs of 2 s per row (~2 min)
    python -m bench.pg_drivers --seconds 1 --runs 1    # a quick look

Drivers: psycopg 3 synchronous on a thread pool (the store's own ``PostgresDatabase``:
one connection per thread, its isolation levels), psycopg 3 async, and asyncpg. Each
runs the same SQL (:mod:`bench.pg_paths`) on a database migrated with the product's
Alembic history, on a throwaway durable server (``PostgresServer(durable=True)``: fsync
and synchronous_commit on, the product's defaults).

Rows: publish with N = 1 and 10 deliveries per message and 1 and 4 publishers at once;
claim (claim + result transactions, 32 deliveries a claim) with 1 and 4 claimers on a
backlog spread over 8 endpoints. Figures: transactions/s (a claim cycle counts two) and
rows/s (deliveries published, or claimed and recorded), the median of the runs; the
runs of the drivers are interleaved, so a disturbance on a shared machine spreads over
all of them; the CPU this process used per row is the drivers' own cost, and moves
less with other load than the rates do. ``--fsync-off`` makes commits cheap, so the
rates show the drivers rather than the disk. Prints a Markdown table; ``--json PATH``
also writes the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.baselines import _ensure_module
from bench.harness import Deadline, log, run_async
from bench.pg_paths import DRIVERS, Driver, conflicts, make
from hookline.store.migrate import upgrade
from hookline.store.postgres import sqlalchemy_url
from hookline.testing.postgres import PostgresServer

ENDPOINTS = 8
BACKLOG = 400_000
PUBLISHERS_MAX = 4
WARM_UP_S = 0.3

Row = tuple[str, int, int]  # path, N (deliveries per message; 0 for claims), concurrency
ROWS: list[Row] = [
    ("publish", 1, 1),
    ("publish", 10, 1),
    ("publish", 1, 4),
    ("publish", 10, 4),
    ("claim", 0, 1),
    ("claim", 0, 4),
]


def prepare(url: str, backlog: int = BACKLOG) -> None:
    """Migrate, add the publishers' endpoint_state rows, queue the claim backlog."""
    upgrade(sqlalchemy_url(url))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO endpoint_state (endpoint_id, app_id, breaker_state, failure_streak,"
            " cooldown_ms) SELECT 'ep_pub_' || w || '_' || j, 'app_bench', 0, 0, 0"
            " FROM generate_series(0, %s) w, generate_series(0, 9) j",
            (PUBLISHERS_MAX - 1,),
        )
        conn.execute(
            "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts, trigger,"
            " next_attempt_at, lease_owner, created_at, updated_at)"
            " SELECT 'dlv_b' || lpad(g::text, 8, '0'), 'msg_b', 'ep_claim_' || (g %% %s),"
            " 'app_bench', 1, 0, 0, g, NULL, g, g FROM generate_series(1, %s) g",
            (ENDPOINTS, backlog),
        )
        conn.execute("VACUUM ANALYZE")


def reset_backlog(url: str) -> None:
    """Every claimed delivery due again, no attempts: each claim run starts alike."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE delivery SET status = 1, attempts = 0, lease_owner = NULL,"
            " next_attempt_at = created_at WHERE msg_id = 'msg_b' AND status <> 1"
        )
        conn.execute("TRUNCATE attempt")
        conn.execute("VACUUM ANALYZE delivery")


async def measure(
    driver: Driver, path: str, fan: int, workers: int, seconds: float
) -> dict[str, Any]:
    """Every worker repeats its transaction back to back; what finished in the window
    after a short warm-up counts."""
    start = time.monotonic()
    cpu_at = [0.0]
    window = (start + WARM_UP_S, start + WARM_UP_S + seconds)
    totals = {"transactions": 0, "rows": 0, "gave_up": 0}
    exhausted = False
    gave_up = conflicts()

    async def loop(worker: int) -> None:
        nonlocal exhausted
        turn = worker
        empty = 0
        while time.monotonic() < window[1] and not exhausted:
            if path == "publish":
                try:
                    rows, transactions = await driver.publish(worker, fan), 1
                except gave_up:  # still a serialization failure after 12 re-runs
                    rows, transactions = 0, 0
                    totals["gave_up"] += time.monotonic() >= window[0]
            else:
                rows = await driver.claim(worker, f"ep_claim_{turn % ENDPOINTS}")
                transactions = 2 if rows else 1
                turn += 1
                empty = 0 if rows else empty + 1
                exhausted = exhausted or empty >= ENDPOINTS
            if time.monotonic() >= window[0]:
                totals["transactions"] += transactions
                totals["rows"] += rows

    async def mark() -> None:  # CPU from the end of the warm-up, like the counts
        await asyncio.sleep(WARM_UP_S)
        cpu_at[0] = time.process_time()

    await asyncio.gather(mark(), *(loop(w) for w in range(workers)))
    span = max(time.monotonic(), window[0] + 1e-3) - window[0]
    cpu = time.process_time() - cpu_at[0]  # this process, every thread: the driver's cost
    return {
        "client_cpu_us_per_row": cpu / totals["rows"] * 1e6 if totals["rows"] else None,
        "tx_per_s": totals["transactions"] / span,
        "rows_per_s": totals["rows"] / span,
        "gave_up_per_s": totals["gave_up"] / span,
        "exhausted": exhausted,
    }


async def run_all(url: str, seconds: float, runs: int, drivers: list[str]) -> list[dict[str, Any]]:
    samples: dict[tuple[Row, str], list[dict[str, Any]]] = {}
    for row in ROWS:
        path, fan, workers = row
        for run in range(runs):
            for name in drivers:
                if path == "claim":
                    await asyncio.to_thread(reset_backlog, url)
                driver = make(name)
                await driver.open(url, workers)
                try:
                    figures = await measure(driver, path, fan, workers, seconds)
                finally:
                    await driver.close()
                samples.setdefault((row, name), []).append(figures)
                log(
                    f"{path} N={fan or 32} x{workers} {name} run {run + 1}:"
                    f" {figures['tx_per_s']:,.0f} tx/s, {figures['rows_per_s']:,.0f} rows/s"
                    + (" (backlog ran out)" if figures["exhausted"] else "")
                    + (
                        f", {figures['gave_up_per_s']:,.0f}/s gave up on conflicts"
                        if figures["gave_up_per_s"]
                        else ""
                    )
                )
    return [
        {
            "path": row[0],
            "rows_per_tx": row[1] or 32,
            "concurrency": row[2],
            "driver": name,
            "tx_per_s": statistics.median(s["tx_per_s"] for s in got),
            "rows_per_s": statistics.median(s["rows_per_s"] for s in got),
            "gave_up_per_s": statistics.median(s["gave_up_per_s"] for s in got),
            "client_cpu_us_per_row": statistics.median(
                s["client_cpu_us_per_row"] or 0.0 for s in got
            ),
            "runs": got,
        }
        for (row, name), got in samples.items()
    ]


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| path | rows per tx | at once | driver | tx/s | rows/s | vs psycopg (thread pool)"
        " | client CPU per row | gave up on conflicts/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {
        (r["path"], r["rows_per_tx"], r["concurrency"]): r["rows_per_s"]
        for r in results
        if r["driver"] == DRIVERS[0]
    }
    for r in results:
        ref = base.get((r["path"], r["rows_per_tx"], r["concurrency"]))
        ratio = f"{r['rows_per_s'] / ref:.2f}x" if ref else ""
        lines.append(
            f"| {r['path']} | {r['rows_per_tx']} | {r['concurrency']} | {r['driver']} |"
            f" {r['tx_per_s']:,.0f} | {r['rows_per_s']:,.0f} | {ratio} |"
            f" {r['client_cpu_us_per_row']:,.0f} us | {r['gave_up_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_drivers", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver", choices=DRIVERS, action="append", help="repeatable")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--fsync-off",
        action="store_true",
        help="a server without fsync: commits cost little, so the drivers' own cost shows",
    )
    args = parser.parse_args()
    if DRIVERS[2] in (args.driver or DRIVERS) and not _ensure_module("asyncpg", Deadline(180)):
        raise SystemExit("asyncpg is not installed and pip could not install it")
    server = PostgresServer(durable=not args.fsync_off)
    try:
        server.start()
        url = server.create_database("bench_drivers")
        fsync = "off" if args.fsync_off else "on"
        log(f"PostgreSQL on port {server.port} (fsync {fsync}); migrating, queueing {BACKLOG:,}")
        prepare(url)
        results = run_async(run_all(url, args.seconds, args.runs, args.driver or list(DRIVERS)))
    finally:
        server.destroy()
    print(markdown(results))
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
