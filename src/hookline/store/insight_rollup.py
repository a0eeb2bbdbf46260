"""Chart rollups: per minute and per hour, for every application together, each
application and each endpoint, the messages, attempt outcomes and a latency histogram.

The maintenance loop folds new rows in by id cursor (``fold``), off the publish and
record path, so neither pays for the charts. Reads add up the rollups for rows up to
the cursors and count the rows past them directly (``Tally``), so a chart is current
even when the loop is behind or stopped. Minute rows are kept two days (the day chart's
30-minute buckets); hour rows as long as the attempts they count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hookline import ids
from hookline.models import OPERATIONAL_APP_ID, DeliveryStatus, ErrorKind
from hookline.store.insight_math import (
    HOUR_MS,
    MINUTE_MS,
    add_into,
    empty_histogram,
    latency_slot,
)
from hookline.store.sql_conn import Conn, serialize_on

ALL = "*"  # the scope of every application together (the operational one left out)
KIND_ALL, KIND_APP, KIND_ENDPOINT = 0, 1, 2
GRAINS = (MINUTE_MS, HOUR_MS)
MINUTE_ROWS_KEPT_MS = 2 * 24 * HOUR_MS
SUCCESS = int(DeliveryStatus.SUCCESS)


@dataclass(slots=True)
class Tally:
    """One bucket's counts, from rollups, raw rows, or both."""

    messages: int = 0
    succeeded: int = 0
    failed: int = 0
    max_ms: int = 0
    latency: list[int] = field(default_factory=empty_histogram)

    def attempt(self, ok: bool, duration_ms: int) -> None:
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
        self.latency[latency_slot(duration_ms)] += 1
        self.max_ms = max(self.max_ms, duration_ms)

    def merge(self, messages: int, succeeded: int, failed: int, max_ms: int, latency: Any) -> None:
        self.messages += messages
        self.succeeded += succeeded
        self.failed += failed
        self.max_ms = max(self.max_ms, max_ms)
        add_into(self.latency, orjson.loads(latency) if isinstance(latency, str) else latency)


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
    return HOUR_MS if bucket_ms % HOUR_MS == 0 else MINUTE_MS


def rollup_rows(
    conn: Conn, scopes: Sequence[str], grain_ms: int, lo: int, hi: int
) -> Iterable[Any]:
    """(scope, start_ms, messages, succeeded, failed, max_ms, latency) in [lo, hi)."""
    for start in range(0, len(scopes), 500):
        chunk = scopes[start : start + 500]
        yield from conn.execute(
            "SELECT scope, start_ms, messages, succeeded, failed, max_ms, latency"
            f" FROM insight_rollup WHERE scope IN ({','.join('?' * len(chunk))})"
            " AND grain_ms = ? AND start_ms >= ? AND start_ms < ?",
            (*chunk, grain_ms, lo, hi),
        )


# ----- folding ---------------------------------------------------------------------------

Key = tuple[str, int, int]  # scope, grain, start


def fold(conn: Conn, before_ms: int, limit: int) -> int:
    """Fold the next ``limit`` rows of each table with ids before ``before_ms``."""
    serialize_on(conn, "insight-fold")  # folds in several processes take turns
    cursors = read_cursors(conn)
    stop = (ids.boundary_id("msg", before_ms), ids.boundary_id("dlv", before_ms))
    tallies: dict[Key, Tally] = {}
    owners: dict[str, tuple[int, str]] = {}  # scope -> (kind, app_id)

    def tally(scope: str, kind: int, app_id: str, at_ms: int) -> Iterable[Tally]:
        owners[scope] = (kind, app_id)
        for grain in GRAINS:
            key = (scope, grain, at_ms - at_ms % grain)
            found = tallies.get(key)
            if found is None:
                found = tallies[key] = Tally()
            yield found

    def scopes(app_id: str, endpoint_id: str | None) -> list[tuple[str, int, str]]:
        out = [(app_id, KIND_APP, app_id)]
        if endpoint_id is not None:
            out.append((endpoint_id, KIND_ENDPOINT, app_id))
        if app_id != OPERATIONAL_APP_ID:
            out.append((ALL, KIND_ALL, ""))
        return out

    msgs = conn.execute(
        "SELECT id, app_id, created_at FROM message WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
        (cursors.message, stop[0], limit),
    ).fetchall()
    for _, app_id, at in msgs:
        for scope, kind, owner in scopes(app_id, None):
            if kind != KIND_ENDPOINT:
                for t in tally(scope, kind, owner, at):
                    t.messages += 1
    dlvs = conn.execute(
        "SELECT id, endpoint_id, app_id, created_at FROM delivery WHERE id > ? AND id < ?"
        " ORDER BY id LIMIT ?",
        (cursors.delivery, stop[1], limit),
    ).fetchall()
    for _, endpoint_id, app_id, at in dlvs:
        for t in tally(endpoint_id, KIND_ENDPOINT, app_id, at):
            t.messages += 1
    atts = conn.execute(
        "SELECT id, endpoint_id, app_id, status, duration_ms, created_at, error_kind,"
        " response_status FROM attempt WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
        (cursors.attempt, ids.boundary_id("atmpt", before_ms), limit),
    ).fetchall()
    failures: dict[str, tuple[int, str]] = {}
    for _, endpoint_id, app_id, status, duration, at, kind_, code in atts:
        ok = status == SUCCESS
        for scope, kind, owner in scopes(app_id, endpoint_id):
            for t in tally(scope, kind, owner, at):
                t.attempt(ok, duration)
        if not ok and at >= failures.get(endpoint_id, (0, ""))[0]:
            failures[endpoint_id] = (at, failure_text(kind_, code))
    _write_tallies(conn, tallies, owners)
    _write_failures(conn, failures)
    _advance(conn, cursors, msgs, dlvs, atts)
    conn.execute(
        "DELETE FROM insight_rollup WHERE grain_ms = ? AND start_ms < ?",
        (MINUTE_MS, before_ms - MINUTE_ROWS_KEPT_MS),
    )
    return len(msgs) + len(dlvs) + len(atts)


def _write_tallies(
    conn: Conn, tallies: dict[Key, Tally], owners: dict[str, tuple[int, str]]
) -> None:
    for (scope, grain, start), t in sorted(tallies.items()):
        old = conn.execute(
            "SELECT messages, succeeded, failed, max_ms, latency FROM insight_rollup"
            " WHERE scope = ? AND grain_ms = ? AND start_ms = ?",
            (scope, grain, start),
        ).fetchone()
        if old is not None:
            t.merge(*old)
        kind, app_id = owners[scope]
        conn.execute(
            "INSERT INTO insight_rollup (scope, grain_ms, start_ms, kind, app_id, messages,"
            " succeeded, failed, max_ms, latency) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (scope, grain_ms, start_ms) DO UPDATE SET messages ="
            " excluded.messages, succeeded = excluded.succeeded, failed = excluded.failed,"
            " max_ms = excluded.max_ms, latency = excluded.latency",
            (
                scope,
                grain,
                start,
                kind,
                app_id,
                t.messages,
                t.succeeded,
                t.failed,
                t.max_ms,
                orjson.dumps(t.latency).decode(),
            ),
        )


def _write_failures(conn: Conn, failures: dict[str, tuple[int, str]]) -> None:
    conn.executemany(
        "INSERT INTO insight_failure (endpoint_id, last_failure_at, last_error) VALUES (?,?,?)"
        " ON CONFLICT (endpoint_id) DO UPDATE SET last_failure_at = excluded.last_failure_at,"
        " last_error = excluded.last_error"
        " WHERE excluded.last_failure_at >= insight_failure.last_failure_at",
        [(ep, at, text) for ep, (at, text) in sorted(failures.items())],
    )


def _advance(conn: Conn, cursors: Cursors, *batches: list[Any]) -> None:
    names = ("message", "delivery", "attempt")
    olds = (cursors.message, cursors.delivery, cursors.attempt)
    for name, old, batch in zip(names, olds, batches, strict=True):
        if batch and batch[-1][0] != old:
            conn.execute(
                "INSERT INTO insight_cursor (name, cursor) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                (name, batch[-1][0]),
            )
