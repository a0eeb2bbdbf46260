"""Benchmark plumbing: deadlines, free ports, payloads, percentiles, progress.

Processes live in :mod:`bench.processes`, the receiver's client in
:mod:`bench.receiving`, and what else runs on the machine in :mod:`bench.machine`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hookline.testing.ports import free_port as free_port  # the scenarios import it from here

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOOKLINE = BIN / "hookline"

CEILING_CONCURRENCY = 64  # the bare senders' requests in flight
EVENT_TYPE = "invoice.paid"
API_TOKEN = "hk_bench_" + "x" * 32

_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stdout, with the time since the harness started."""
    elapsed = time.monotonic() - _started
    print(f"[{int(elapsed) // 60:02d}:{elapsed % 60:04.1f}] {message}", flush=True)


class Deadline:
    """A hard wall-clock cap; every wait loop in the harness checks one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def sub(self, seconds: float) -> Deadline:
        """A cap of ``seconds`` that never outlives this one."""
        return Deadline(min(seconds, self.remaining()))


class ScenarioTimeout(Exception):
    pass


@dataclass
class Context:
    """What a scenario gets: a scratch folder, a folder for process logs, its cap."""

    work_dir: Path
    log_dir: Path
    deadline: Deadline
    quick: bool

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def payload(seq: int) -> dict[str, Any]:
    """About 1 KiB of JSON once serialised."""
    return {"type": EVENT_TYPE, "seq": seq, "data": {"note": "x" * 960}}


def payload_bytes(seq: int) -> bytes:
    return orjson.dumps(payload(seq))


# ----- numbers ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float, missing: int = 0) -> float | None:
    """The q-th percentile (0-100, nearest rank); values that never arrived count as
    infinitely late, so the answer is None when they reach into the percentile."""
    total = len(values) + missing
    if total == 0:
        return None
    rank = max(1, int(-(-q * total // 100)))  # ceil(q/100 * total)
    if rank > len(values):
        return None
    return sorted(values)[rank - 1]


def slice_rates(first: float, marks: Sequence[tuple[int, float]]) -> list[float]:
    """Requests/s in each slice between marks (``[count, time]`` at every N-th arrival),
    the first slice starting at the first arrival (count 1)."""
    out: list[float] = []
    prev_count, prev_at = 1, first
    for count, at in marks:
        span = at - prev_at
        out.append((count - prev_count) / span if span > 0 else 0.0)
        prev_count, prev_at = count, at
    return out


def latency_summary(values_s: Sequence[float], missing: int = 0) -> dict[str, float | None]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": percentile(ms, 50, missing),
        "p99_ms": percentile(ms, 99, missing),
        "max_ms": (max(ms) if ms and not missing else None),
        "samples": len(ms),
        "missing": missing,
    }


def db_counts(data_dir: Path, until: float | None = None) -> dict[str, Any]:
    """Attempts and deliveries by status, read from the SQLite file after a run.

    ``until`` (Unix time) limits the attempts by error kind to those that finished by
    then, leaving out the ones a shutdown cut short."""
    until_ms = int((until if until is not None else time.time() + 86400) * 1000)
    conn = sqlite3.connect(f"file:{data_dir / 'hookline.db'}?mode=ro", uri=True)
    try:
        attempts = conn.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
        ok_attempts = conn.execute("SELECT COUNT(*) FROM attempt WHERE status=0").fetchone()[0]
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM delivery GROUP BY status"))
        kinds = dict(
            conn.execute(
                "SELECT COALESCE(error_kind, 'none'), COUNT(*) FROM attempt"
                " WHERE created_at + duration_ms <= ? GROUP BY 1",
                (until_ms,),
            ).fetchall()
        )
    finally:
        conn.close()
    return {
        "attempts": int(attempts),
        "successful_attempts": int(ok_attempts),
        "deliveries_success": int(by_status.get(0, 0)),
        "deliveries_pending": int(by_status.get(1, 0)),
        "deliveries_failed": int(by_status.get(2, 0)),
        "deliveries_sending": int(by_status.get(3, 0)),
        "attempts_by_error_kind": {str(k): int(v) for k, v in kinds.items()},
    }


def pg_counts(database_url: str) -> dict[str, Any]:
    """:func:`db_counts` for a PostgreSQL database (every attempt counted by kind)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        attempts, ok_attempts = conn.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 0) FROM attempt"
        ).fetchone() or (0, 0)
        by_status: dict[int, int] = dict(
            conn.execute("SELECT status, COUNT(*) FROM delivery GROUP BY status").fetchall()
        )
        kinds: dict[str, int] = dict(
            conn.execute(
                "SELECT COALESCE(error_kind, 'none'), COUNT(*) FROM attempt GROUP BY 1"
            ).fetchall()
        )
    return {
        "attempts": int(attempts),
        "successful_attempts": int(ok_attempts),
        "deliveries_success": int(by_status.get(0, 0)),
        "deliveries_pending": int(by_status.get(1, 0)),
        "deliveries_failed": int(by_status.get(2, 0)),
        "deliveries_sending": int(by_status.get(3, 0)),
        "attempts_by_error_kind": {str(k): int(v) for k, v in kinds.items()},
    }


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
