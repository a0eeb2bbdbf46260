"""The gauges a metrics scrape reads: the queue by state, the endpoints by state.

Counted through the (endpoint_id, status, id) index endpoint by endpoint, as the
dashboard's queue summary is; the caller caches the answer for a couple of seconds, so
scrapes cannot become a load on the database."""

from __future__ import annotations

from typing import Any

from hookline.models import OPERATIONAL_APP_ID, QueueGauges
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn
from hookline.store.sql_queue import PENDING, SENDING

_ENDPOINTS = "SELECT id FROM endpoint WHERE app_id != ?"


class MetricsOps(SqlBase):
    async def queue_gauges(self, now_ms: int) -> QueueGauges:
        return await self._read(lambda c: _gauges(c, now_ms))


def _gauges(conn: Conn, now_ms: int) -> QueueGauges:
    ready, oldest = conn.execute(
        f"SELECT COUNT(*), MIN(created_at) FROM delivery WHERE endpoint_id IN ({_ENDPOINTS})"
        " AND status = ? AND next_attempt_at <= ?",
        (OPERATIONAL_APP_ID, PENDING, now_ms),
    ).fetchone()
    scheduled, parked = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN next_attempt_at IS NOT NULL THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN next_attempt_at IS NULL THEN 1 ELSE 0 END), 0)"
        f" FROM delivery WHERE endpoint_id IN ({_ENDPOINTS}) AND status = ?"
        " AND (next_attempt_at IS NULL OR next_attempt_at > ?)",
        (OPERATIONAL_APP_ID, PENDING, now_ms),
    ).fetchone()
    sending = 0
    ready = int(ready)
    for lease_end, created_at in conn.execute(
        f"SELECT next_attempt_at, created_at FROM delivery WHERE endpoint_id IN ({_ENDPOINTS})"
        " AND status = ?",
        (OPERATIONAL_APP_ID, SENDING),
    ):
        if lease_end is not None and lease_end > now_ms:
            sending += 1
        else:  # its lease ran out: due again
            ready += 1
            oldest = created_at if oldest is None else min(oldest, created_at)
    active, disabled, open_ = _endpoints(conn)
    return QueueGauges(
        ready=ready,
        scheduled=int(scheduled),
        sending=sending,
        parked=int(parked),
        oldest_ready_at=None if oldest is None else int(oldest),
        endpoints_active=active,
        endpoints_disabled=disabled,
        endpoints_breaker_open=open_,
    )


def _endpoints(conn: Conn) -> tuple[int, int, int]:
    counts: dict[tuple[bool, bool], int] = {}
    row: Any
    for row in conn.execute(
        "SELECT e.disabled, COALESCE(s.breaker_state, 0) != 0, COUNT(*) FROM endpoint e"
        " LEFT JOIN endpoint_state s ON s.endpoint_id = e.id"
        " WHERE e.app_id != ? GROUP BY e.disabled, COALESCE(s.breaker_state, 0) != 0",
        (OPERATIONAL_APP_ID,),
    ):
        key = (bool(row[0]), bool(row[1]))
        counts[key] = counts.get(key, 0) + int(row[2])
    disabled = counts.get((True, False), 0) + counts.get((True, True), 0)
    return counts.get((False, False), 0), disabled, counts.get((False, True), 0)
