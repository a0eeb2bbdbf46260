"""The dashboard's reads: traffic charts, queue depth, endpoint health, the live tail.

Charts add the rollups (``insight_rollup``, folded in by the maintenance loop) to the
rows past the fold cursors, counted directly; so every read costs a few hundred rollup
rows plus the last minutes' rows, whatever the size of the log. "Every application"
leaves out the operational one (hookline's own events), which no API lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookline import ids
from hookline.models import (
    OPERATIONAL_APP_ID,
    Attempt,
    EndpointHealth,
    Message,
    MessageSearch,
    Page,
    QueueSummary,
    TrafficBucket,
)
from hookline.store import rows
from hookline.store.base import PageRequest
from hookline.store.insight_math import MINUTE_MS, bucket_starts, percentile
from hookline.store.insight_rollup import (
    ALL,
    GRAINS,
    KIND_ENDPOINT,
    MINUTE_ROWS_KEPT_MS,
    SUCCESS,
    Cursors,
    Tally,
    failure_text,
    fold,
    grain_for,
    read_cursors,
    rollup_rows,
)
from hookline.store.insight_search import search
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn
from hookline.store.sql_queue import PENDING, SENDING, marks

OP = OPERATIONAL_APP_ID


def unindexed(conn: Conn, column: str) -> str:
    """A column SQLite must not pick an index for (a recent id range is narrower than
    one endpoint's or application's whole history); PostgreSQL's planner has stats."""
    return f"+{column}" if conn.dialect == "sqlite" else column


class InsightOps(SqlBase):
    async def traffic(
        self,
        since_ms: int,
        until_ms: int,
        bucket_ms: int,
        *,
        app_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> list[TrafficBucket]:
        starts = bucket_starts(since_ms, until_ms, bucket_ms)
        if not starts:
            return []
        return await self._read(lambda c: _traffic(c, starts, bucket_ms, app_id, endpoint_id))

    async def queue_summary(self, now_ms: int, *, app_id: str | None = None) -> QueueSummary:
        return await self._read(lambda c: _queue_summary(c, now_ms, app_id))

    async def endpoint_health(
        self, endpoint_ids: Sequence[str], since_ms: int, until_ms: int, bucket_ms: int
    ) -> dict[str, EndpointHealth]:
        starts = bucket_starts(since_ms, until_ms, bucket_ms)
        wanted = sorted(set(endpoint_ids))
        if not wanted:
            return {}
        return await self._read(lambda c: _endpoint_health(c, wanted, starts, bucket_ms))

    async def failing_endpoints(
        self, since_ms: int, now_ms: int, limit: int, *, app_id: str | None = None
    ) -> list[EndpointHealth]:
        return await self._read(lambda c: _failing(c, since_ms, now_ms, limit, app_id))

    async def search_messages(
        self, query: MessageSearch, page: PageRequest, *, app_id: str | None
    ) -> Page[Message]:
        return await self._read(lambda c: search(c, query, page, app_id))

    async def attempts_after(
        self, after_id: str | None, limit: int, *, app_id: str | None = None
    ) -> list[Attempt]:
        return await self._read(lambda c: _attempts_after(c, after_id, limit, app_id))

    async def fold_insights(self, before_ms: int, limit: int) -> int:
        return await self._write(lambda c: fold(c, before_ms, limit), own_locks=True)


# ----- charts -----------------------------------------------------------------------------


def _bucket(tallies: list[Tally], lo: int, bucket_ms: int, at_ms: int) -> Tally | None:
    i = (at_ms - lo) // bucket_ms
    return tallies[i] if 0 <= i < len(tallies) else None


def _traffic(
    conn: Conn, starts: list[int], bucket_ms: int, app_id: str | None, endpoint_id: str | None
) -> list[TrafficBucket]:
    lo, hi = starts[0], starts[-1] + bucket_ms
    tallies = [Tally() for _ in starts]
    scope = endpoint_id or app_id or ALL
    for _, start, *counts in rollup_rows(conn, [scope], grain_for(bucket_ms), lo, hi):
        t = _bucket(tallies, lo, bucket_ms, start)
        if t is not None:
            t.merge(*counts)
    cur = read_cursors(conn)
    for (at,) in _recent_messages(conn, cur, lo, hi, app_id, endpoint_id):
        t = _bucket(tallies, lo, bucket_ms, at)
        if t is not None:
            t.messages += 1
    for at, status, duration in _recent_attempts(conn, cur, lo, hi, app_id, endpoint_id):
        t = _bucket(tallies, lo, bucket_ms, at)
        if t is not None:
            t.attempt(status == SUCCESS, duration)
    return [
        TrafficBucket(
            start_ms=start,
            messages=t.messages,
            succeeded=t.succeeded,
            failed=t.failed,
            p50_ms=percentile(t.latency, t.max_ms, 0.5),
            p95_ms=percentile(t.latency, t.max_ms, 0.95),
        )
        for start, t in zip(starts, tallies, strict=True)
    ]


def _recent_messages(
    conn: Conn, cur: Cursors, lo: int, hi: int, app_id: str | None, endpoint_id: str | None
) -> list[Any]:
    """created_at of the messages (an endpoint's deliveries) in range not folded yet."""
    if endpoint_id is not None:
        after = max(cur.delivery, ids.boundary_id("dlv", lo))
        return conn.execute(
            "SELECT created_at FROM delivery WHERE id > ? AND id < ?"
            f" AND {unindexed(conn, 'endpoint_id')} = ?",
            (after, ids.boundary_id("dlv", hi), endpoint_id),
        ).fetchall()
    after = max(cur.message, ids.boundary_id("msg", lo))
    if app_id is not None:
        sql = "SELECT created_at FROM message WHERE app_id = ? AND id > ? AND id < ?"
        return conn.execute(sql, (app_id, after, ids.boundary_id("msg", hi))).fetchall()
    return conn.execute(
        "SELECT created_at FROM message WHERE id > ? AND id < ?"
        f" AND {unindexed(conn, 'app_id')} != ?",
        (after, ids.boundary_id("msg", hi), OP),
    ).fetchall()


def _recent_attempts(
    conn: Conn, cur: Cursors, lo: int, hi: int, app_id: str | None, endpoint_id: str | None
) -> list[Any]:
    """(created_at, status, duration_ms) of the attempts in range not folded yet."""
    after, before = max(cur.attempt, ids.boundary_id("atmpt", lo)), ids.boundary_id("atmpt", hi)
    select = "SELECT created_at, status, duration_ms FROM attempt WHERE"
    if endpoint_id is not None:
        sql, params = f"{select} endpoint_id = ? AND id > ? AND id < ?", (endpoint_id,)
    elif app_id is not None:
        sql, params = f"{select} {unindexed(conn, 'app_id')} = ? AND id > ? AND id < ?", (app_id,)
    else:
        sql, params = f"{select} {unindexed(conn, 'app_id')} != ? AND id > ? AND id < ?", (OP,)
    return conn.execute(sql, (*params, after, before)).fetchall()


# ----- queue ------------------------------------------------------------------------------


def _queue_summary(conn: Conn, now_ms: int, app_id: str | None) -> QueueSummary:
    """Counted through the (endpoint_id, status, id) index, endpoint by endpoint; a
    sending row whose lease ran out is waiting again."""
    if app_id is None:
        endpoints = "SELECT id FROM endpoint WHERE app_id != ?"
        params: tuple[Any, ...] = (OP,)
    else:
        endpoints = "SELECT id FROM endpoint WHERE app_id = ?"
        params = (app_id,)
    waiting, oldest_id = conn.execute(
        f"SELECT COUNT(*), MIN(id) FROM delivery WHERE endpoint_id IN ({endpoints}) AND status = ?",
        (*params, PENDING),
    ).fetchone()
    oldest = None
    if oldest_id is not None:
        oldest = conn.execute(
            "SELECT created_at FROM delivery WHERE id = ?", (oldest_id,)
        ).fetchone()[0]
    sending = 0
    for lease_end, created_at in conn.execute(
        f"SELECT next_attempt_at, created_at FROM delivery WHERE endpoint_id IN ({endpoints})"
        " AND status = ?",
        (*params, SENDING),
    ):
        if lease_end is not None and lease_end > now_ms:
            sending += 1
        else:
            waiting += 1
            oldest = created_at if oldest is None else min(oldest, created_at)
    return QueueSummary(waiting=int(waiting), sending=sending, oldest_waiting_at=oldest)


# ----- endpoint health --------------------------------------------------------------------

ENDPOINT_SELECT = (
    "SELECT e.id, e.app_id, e.url, e.disabled, COALESCE(s.breaker_state, 0),"
    " f.last_failure_at, f.last_error FROM endpoint e"
    " LEFT JOIN endpoint_state s ON s.endpoint_id = e.id"
    " LEFT JOIN insight_failure f ON f.endpoint_id = e.id"
)


class _Health:
    """What is known of one endpoint while its health is being added up."""

    def __init__(self, r: Any, buckets: int) -> None:
        self.row = r
        self.tallies = [Tally() for _ in range(buckets)]
        self.last_failure: tuple[int, str] | None = None if r[5] is None else (r[5], r[6])

    def failure(self, at_ms: int, text: str) -> None:
        if self.last_failure is None or at_ms >= self.last_failure[0]:
            self.last_failure = (at_ms, text)

    def record(self) -> EndpointHealth:
        r = self.row
        return EndpointHealth(
            endpoint_id=r[0],
            app_id=r[1],
            url=r[2],
            disabled=bool(r[3]),
            breaker_open=r[4] != 0,
            succeeded=sum(t.succeeded for t in self.tallies),
            failed=sum(t.failed for t in self.tallies),
            last_failure_at=None if self.last_failure is None else self.last_failure[0],
            last_error=None if self.last_failure is None else self.last_failure[1],
            volume=[t.succeeded + t.failed for t in self.tallies],
        )


def _healths(conn: Conn, endpoint_ids: Sequence[str], buckets: int) -> dict[str, _Health]:
    found: dict[str, _Health] = {}
    for start in range(0, len(endpoint_ids), 500):
        chunk = endpoint_ids[start : start + 500]
        for r in conn.execute(f"{ENDPOINT_SELECT} WHERE e.id IN ({marks(len(chunk))})", chunk):
            found[r[0]] = _Health(r, buckets)
    return found


def _add_recent(conn: Conn, health: _Health, after: str, lo: int, bucket_ms: int) -> None:
    """The endpoint's attempts past the fold cursor: counts, and the latest failure."""
    for at, status, duration, kind, code in conn.execute(
        "SELECT created_at, status, duration_ms, error_kind, response_status FROM attempt"
        " WHERE endpoint_id = ? AND id > ?",
        (health.row[0], after),
    ):
        t = _bucket(health.tallies, lo, bucket_ms, at)
        if t is not None:
            t.attempt(status == SUCCESS, duration)
        if status != SUCCESS:
            health.failure(at, failure_text(kind, code))


def _endpoint_health(
    conn: Conn, endpoint_ids: Sequence[str], starts: list[int], bucket_ms: int
) -> dict[str, EndpointHealth]:
    found = _healths(conn, endpoint_ids, len(starts))
    if starts:
        lo, hi = starts[0], starts[-1] + bucket_ms
        grain = grain_for(bucket_ms)
        for scope, start, *counts in rollup_rows(conn, list(found), grain, lo, hi, False):
            t = _bucket(found[scope].tallies, lo, bucket_ms, start)
            if t is not None:
                t.merge(*counts)
    cursor = read_cursors(conn).attempt
    for health in found.values():
        _add_recent(conn, health, cursor, starts[0] if starts else 0, bucket_ms)
    return {ep: h.record() for ep, h in found.items()}


def _spans(lo: int, hi: int, grains: Sequence[int] = GRAINS) -> list[tuple[int, int, int]]:
    """Minute-aligned [lo, hi) as (grain, from, to): the middle from the coarsest rollup
    that fits, the edges from finer ones (minute rows are kept two days: a window older
    than that loses its sub-ten-minute edges)."""
    for grain in sorted(grains, reverse=True):
        first, last = -(-lo // grain) * grain, hi - hi % grain
        if first < last:
            finer = [g for g in grains if g < grain]
            return [
                *(_spans(lo, first, finer) if first > lo else []),
                (grain, first, last),
                *(_spans(last, hi, finer) if last < hi else []),
            ]
    return []


def _failing(
    conn: Conn, since_ms: int, now_ms: int, limit: int, app_id: str | None
) -> list[EndpointHealth]:
    lo = since_ms - since_ms % MINUTE_MS
    hi = -(-now_ms // MINUTE_MS) * MINUTE_MS
    counts: dict[str, list[int]] = {}
    scope_app = "app_id = ?" if app_id is not None else "app_id != ?"
    for grain, a, b in _spans(lo, hi):
        if grain == MINUTE_MS and a < now_ms - MINUTE_ROWS_KEPT_MS:
            continue
        for scope, ok, bad in conn.execute(
            "SELECT scope, SUM(succeeded), SUM(failed) FROM insight_rollup WHERE grain_ms = ?"
            f" AND start_ms >= ? AND start_ms < ? AND kind = ? AND {scope_app} GROUP BY scope",
            (grain, a, b, KIND_ENDPOINT, app_id if app_id is not None else OP),
        ):
            c = counts.setdefault(scope, [0, 0])
            c[0], c[1] = c[0] + int(ok), c[1] + int(bad)
    cursor = read_cursors(conn).attempt
    recent_failures: dict[str, tuple[int, str]] = {}
    for endpoint_id, status, at, kind, code in conn.execute(
        "SELECT endpoint_id, status, created_at, error_kind, response_status FROM attempt"
        f" WHERE id > ? AND {unindexed(conn, scope_app)}",
        (max(cursor, ids.boundary_id("atmpt", lo)), app_id if app_id is not None else OP),
    ):
        c = counts.setdefault(endpoint_id, [0, 0])
        c[0 if status == SUCCESS else 1] += 1
        if status != SUCCESS and at >= recent_failures.get(endpoint_id, (0, ""))[0]:
            recent_failures[endpoint_id] = (at, failure_text(kind, code))
    candidates = {ep for ep, (_, bad) in counts.items() if bad}
    candidates.update(
        r[0]
        for r in conn.execute(
            "SELECT s.endpoint_id FROM endpoint_state s JOIN endpoint e ON e.id = s.endpoint_id"
            f" WHERE (s.breaker_state != 0 OR (e.disabled AND s.failing_since IS NOT NULL))"
            f" AND e.{scope_app}",
            (app_id if app_id is not None else OP,),
        )
    )
    found = _healths(conn, sorted(candidates), 1)
    for ep, h in found.items():
        ok, bad = counts.get(ep, (0, 0))
        h.tallies[0].succeeded, h.tallies[0].failed = ok, bad
        if ep in recent_failures:
            h.failure(*recent_failures[ep])
    ranked = sorted(
        (h.record() for h in found.values()),
        key=lambda e: (
            not e.disabled,
            not e.breaker_open,
            -e.failed,
            -e.failed / max(1, e.failed + e.succeeded),
            e.endpoint_id,
        ),
    )
    return ranked[:limit]


# ----- live tail --------------------------------------------------------------------------

ATTEMPT_SELECT = f"SELECT {rows.ATTEMPT_COLS} FROM attempt"


def _attempts_after(
    conn: Conn, after_id: str | None, limit: int, app_id: str | None
) -> list[Attempt]:
    """An application's attempts come endpoint by endpoint through the (endpoint_id, id)
    index and are merged, so a quiet application costs no walk through the others'."""
    newest = after_id is None
    order = "DESC" if newest else "ASC"
    range_ = "" if newest else " AND id > ?"
    found: list[Any] = []
    if app_id is None:
        found = conn.execute(
            f"{ATTEMPT_SELECT} WHERE {unindexed(conn, 'app_id')} != ?{range_}"
            f" ORDER BY id {order} LIMIT ?",
            (OP, *(() if newest else (after_id,)), limit),
        ).fetchall()
    else:
        for (endpoint_id,) in conn.execute(
            "SELECT id FROM endpoint WHERE app_id = ?", (app_id,)
        ).fetchall():
            found += conn.execute(
                f"{ATTEMPT_SELECT} WHERE endpoint_id = ?{range_} ORDER BY id {order} LIMIT ?",
                (endpoint_id, *(() if newest else (after_id,)), limit),
            ).fetchall()
    found.sort(key=lambda r: str(r[0]))
    found = found[-limit:] if newest else found[:limit]
    return [rows.attempt_from_row(r) for r in found]
