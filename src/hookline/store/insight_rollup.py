"""Chart rollups: per minute, ten minutes and hour, for every application together, each
application and each endpoint, the messages, attempt outcomes and a latency histogram.

The maintenance loop folds new rows in by id cursor (``fold``), off the publish and
record path, so neither pays for the charts. Reads add up the rollups for rows up to
the cursors and count the rows past them directly (``Tally``), so a chart is current
even when the loop is behind or stopped. Minute rows are kept two days (the hour chart,
and the edges of a failure window); the coarser rows stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from hookline import ids
from hookline.models import OPERATIONAL_APP_ID, DeliveryStatus, ErrorKind
from hookline.store.insight_math import (
    HOUR_MS,
    LATENCY_BOUNDS_MS,
    MINUTE_MS,
    add_into,
    empty_histogram,
    latency_slot,
)
from hookline.store.sql_conn import Conn, serialize_on

ALL = "*"  # the scope of every application together (the operational one left out)
KIND_ALL, KIND_APP, KIND_ENDPOINT = 0, 1, 2
TEN_MINUTES_MS = 10 * MINUTE_MS
# minutes for the hour chart, ten minutes for the day's half hours, hours for the rest
GRAINS = (MINUTE_MS, TEN_MINUTES_MS, HOUR_MS)
MINUTE_ROWS_KEPT_MS = 2 * 24 * HOUR_MS
SUCCESS = int(DeliveryStatus.SUCCESS)


class Tally:
    """One bucket's counts, from rollups, raw rows, or both. The histogram is made on
    first use: most of a fold's tallies count messages only."""

    __slots__ = ("_latency", "failed", "max_ms", "messages", "succeeded")

    def __init__(self) -> None:
        self.messages = self.succeeded = self.failed = self.max_ms = 0
        self._latency: list[int] | None = None

    @property
    def latency(self) -> list[int]:
        if self._latency is None:
            self._latency = empty_histogram()
        return self._latency

    def attempts(self, ok: bool, slot: int, n: int, longest: int) -> None:
        if ok:
            self.succeeded += n
        else:
            self.failed += n
        self.latency[slot] += n
        if longest > self.max_ms:
            self.max_ms = longest

    def attempt(self, ok: bool, duration_ms: int) -> None:
        self.attempts(ok, latency_slot(duration_ms), 1, duration_ms)

    def merge(self, messages: int, succeeded: int, failed: int, max_ms: int, latency: Any) -> None:
        self.messages += messages
        self.succeeded += succeeded
        self.failed += failed
        self.max_ms = max(self.max_ms, max_ms)
        counts = orjson.loads(latency) if isinstance(latency, str) else latency
        if counts:
            add_into(self.latency, counts)


@dataclass(slots=True, frozen=True)
class Cursors:
    """The last id folded into the rollups, per table ("" before the first fold)."""

    message: str = ""
    delivery: str = ""
    attempt: str = ""


def failure_text(error_kind: str | None, response_status: int) -> str:
    """How the dashboard names a failed attempt: "HTTP 503", or the error kind."""
    if error_kind is None or error_kind == ErrorKind.HTTP_STATUS.value:
        return f"HTTP {response_status}"
    return error_kind


def read_cursors(conn: Conn) -> Cursors:
    found = dict(conn.execute("SELECT name, cursor FROM insight_cursor").fetchall())
    return Cursors(found.get("message", ""), found.get("delivery", ""), found.get("attempt", ""))


def grain_for(bucket_ms: int) -> int:
    """The coarsest rollup that adds up to whole buckets."""
    return max(g for g in GRAINS if bucket_ms % g == 0)


def rollup_rows(
    conn: Conn, scopes: Sequence[str], grain_ms: int, lo: int, hi: int, latency: bool = True
) -> Iterable[Any]:
    """(scope, start_ms, messages, succeeded, failed, max_ms, latency) in [lo, hi); the
    histogram (the costly part) as an empty list unless ``latency``."""
    histogram = "latency" if latency else "'[]'"
    for start in range(0, len(scopes), 500):
        chunk = scopes[start : start + 500]
        yield from conn.execute(
            f"SELECT scope, start_ms, messages, succeeded, failed, max_ms, {histogram}"
            f" FROM insight_rollup WHERE scope IN ({','.join('?' * len(chunk))})"
            " AND grain_ms = ? AND start_ms >= ? AND start_ms < ?",
            (*chunk, grain_ms, lo, hi),
        )


# ----- folding ---------------------------------------------------------------------------

Key = tuple[str, int, int]  # scope, grain, start


_SLOT = (
    "CASE "
    + " ".join(f"WHEN duration_ms <= {b} THEN {i}" for i, b in enumerate(LATENCY_BOUNDS_MS))
    + f" ELSE {len(LATENCY_BOUNDS_MS)} END"
)
_MINUTE = f"created_at - created_at % {MINUTE_MS}"


def fold(conn: Conn, before_ms: int, limit: int) -> int:
    """Fold the next ``limit`` rows of each table with ids before ``before_ms``. The
    database groups each batch by minute (and outcome and latency bucket), so the work
    left here grows with the groups, not the rows."""
    serialize_on(conn, "insight-fold")  # folds in several processes take turns
    cursors = read_cursors(conn)
    tallies: dict[Key, Tally] = {}
    owners: dict[str, tuple[int, str]] = {}  # scope -> (kind, app_id)

    def tally(scope: str, kind: int, app_id: str, minute: int) -> list[Tally]:
        owners[scope] = (kind, app_id)
        found = []
        for grain in GRAINS:
            key = (scope, grain, minute - minute % grain)
            t = tallies.get(key)
            if t is None:
                t = tallies[key] = Tally()
            found.append(t)
        return found

    def scopes(app_id: str, endpoint_id: str | None) -> list[tuple[str, int, str]]:
        out = [(app_id, KIND_APP, app_id)]
        if endpoint_id is not None:
            out.append((endpoint_id, KIND_ENDPOINT, app_id))
        if app_id != OPERATIONAL_APP_ID:
            out.append((ALL, KIND_ALL, ""))
        return out

    def batch(table: str, after: str, prefix: str, columns: str) -> tuple[str, tuple[Any, ...]]:
        return (
            f"WITH b AS (SELECT id, {columns} FROM {table} WHERE id > ? AND id < ?"
            " ORDER BY id LIMIT ?) "
        ), (after, ids.boundary_id(prefix, before_ms), limit)

    sql, params = batch("message", cursors.message, "msg", "app_id, created_at")
    msgs = conn.execute(
        f"{sql} SELECT app_id, {_MINUTE}, COUNT(*), MAX(id) FROM b GROUP BY app_id, 2", params
    ).fetchall()
    for app_id, minute, n, _ in msgs:
        for scope, kind, owner in scopes(app_id, None):
            for t in tally(scope, kind, owner, minute):
                t.messages += n
    sql, params = batch("delivery", cursors.delivery, "dlv", "endpoint_id, app_id, created_at")
    dlvs = conn.execute(
        f"{sql} SELECT endpoint_id, app_id, {_MINUTE}, COUNT(*), MAX(id) FROM b"
        " GROUP BY endpoint_id, app_id, 3",
        params,
    ).fetchall()
    for endpoint_id, app_id, minute, n, _ in dlvs:
        for t in tally(endpoint_id, KIND_ENDPOINT, app_id, minute):
            t.messages += n
    sql, params = batch(
        "attempt", cursors.attempt, "atmpt", "endpoint_id, app_id, status, duration_ms, created_at"
    )
    atts = conn.execute(
        f"{sql} SELECT endpoint_id, app_id, {_MINUTE}, CASE WHEN status = {SUCCESS} THEN 1"
        f" ELSE 0 END, {_SLOT}, COUNT(*), MAX(duration_ms), MAX(id) FROM b"
        " GROUP BY endpoint_id, app_id, 3, 4, 5",
        params,
    ).fetchall()
    for endpoint_id, app_id, minute, ok, slot, n, longest, _ in atts:
        for scope, kind, owner in scopes(app_id, endpoint_id):
            for t in tally(scope, kind, owner, minute):
                t.attempts(bool(ok), slot, n, longest)
    failures = conn.execute(
        f"{sql} SELECT endpoint_id, MAX(id) FROM b WHERE status != {SUCCESS} GROUP BY endpoint_id",
        params,
    ).fetchall()
    _write_tallies(conn, tallies, owners)
    _write_failures(conn, [last for _, last in failures])
    _advance(conn, cursors, msgs, dlvs, atts)
    conn.execute(
        "DELETE FROM insight_rollup WHERE grain_ms = ? AND start_ms < ?",
        (MINUTE_MS, before_ms - MINUTE_ROWS_KEPT_MS),
    )
    return int(sum(g[-2] for g in msgs) + sum(g[-2] for g in dlvs) + sum(g[-3] for g in atts))


def _write_tallies(
    conn: Conn, tallies: dict[Key, Tally], owners: dict[str, tuple[int, str]]
) -> None:
    """Merge into the stored rows: one range read per grain (the batch's span), then
    one batch of upserts."""
    for grain in GRAINS:
        starts = [start for (_, g, start) in tallies if g == grain]
        if not starts:
            continue
        for scope, start, *counts in conn.execute(
            "SELECT scope, start_ms, messages, succeeded, failed, max_ms, latency"
            " FROM insight_rollup WHERE grain_ms = ? AND start_ms >= ? AND start_ms <= ?",
            (grain, min(starts), max(starts)),
        ):
            found = tallies.get((scope, grain, start))
            if found is not None:
                found.merge(*counts)
    conn.executemany(
        "INSERT INTO insight_rollup (scope, grain_ms, start_ms, kind, app_id, messages,"
        " succeeded, failed, max_ms, latency) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (scope, grain_ms, start_ms) DO UPDATE SET messages ="
        " excluded.messages, succeeded = excluded.succeeded, failed = excluded.failed,"
        " max_ms = excluded.max_ms, latency = excluded.latency",
        [
            (
                scope,
                grain,
                start,
                *owners[scope],
                t.messages,
                t.succeeded,
                t.failed,
                t.max_ms,
                orjson.dumps(t.latency).decode(),
            )
            for (scope, grain, start), t in tallies.items()
        ],
    )


def _write_failures(conn: Conn, attempt_ids: list[str]) -> None:
    """Each endpoint's latest failed attempt of the batch, if later than the one kept."""
    if not attempt_ids:
        return
    found = conn.execute(
        "SELECT endpoint_id, created_at, error_kind, response_status FROM attempt"
        f" WHERE id IN ({','.join('?' * len(attempt_ids))}) ORDER BY endpoint_id",
        attempt_ids,
    ).fetchall()
    conn.executemany(
        "INSERT INTO insight_failure (endpoint_id, last_failure_at, last_error) VALUES (?,?,?)"
        " ON CONFLICT (endpoint_id) DO UPDATE SET last_failure_at = excluded.last_failure_at,"
        " last_error = excluded.last_error"
        " WHERE excluded.last_failure_at >= insight_failure.last_failure_at",
        [(ep, at, failure_text(kind, code)) for ep, at, kind, code in found],
    )


def _advance(conn: Conn, cursors: Cursors, *batches: list[Any]) -> None:
    """Each table's cursor to the last id of its batch (each group's last column)."""
    names = ("message", "delivery", "attempt")
    olds = (cursors.message, cursors.delivery, cursors.attempt)
    for name, old, groups in zip(names, olds, batches, strict=True):
        last = max((g[-1] for g in groups), default=old)
        if last != old:
            conn.execute(
                "INSERT INTO insight_cursor (name, cursor) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                (name, last),
            )
