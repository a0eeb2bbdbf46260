"""The delivery queue: per-endpoint claims under a lease (fan-out is in
``sql_fanout``).

Plain functions of a connection, run inside the store's group-commit writer. Work is
scheduled per endpoint: ``endpoint_state.next_due_at`` says when an endpoint next has
due deliveries, so a claim first picks endpoints and then takes each one's due rows
through the ``(endpoint_id, next_attempt_at)`` index. One endpoint's backlog, outage or
open breaker never stands in front of another endpoint's work, and a claim costs the
same with ten thousand queued rows as with ten million.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hookline.models import (
    TUNNEL_URL,
    DeliveryStatus,
    ReadyEndpoint,
)
from hookline.store.sql_conn import Conn

PENDING, SENDING = int(DeliveryStatus.PENDING), int(DeliveryStatus.SENDING)


def marks(n: int) -> str:
    return ",".join("?" * n)


def skip_locked(conn: Conn) -> str:
    """The row-lock clause of a claim: on PostgreSQL, rows another transaction holds are
    passed over rather than waited for. SQLite's single writer already serialises."""
    return " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""


# ----- scheduling rows ------------------------------------------------------------------


def add_endpoint_state(conn: Conn, endpoint_id: str, app_id: str) -> None:
    conn.execute(
        "INSERT INTO endpoint_state (endpoint_id, app_id, next_due_at, paused_until,"
        " breaker_state, failure_streak, cooldown_ms, failing_since, last_success_at)"
        " VALUES (?, ?, NULL, NULL, 0, 0, 0, NULL, NULL) ON CONFLICT (endpoint_id) DO NOTHING",
        (endpoint_id, app_id),
    )


def mark_due(conn: Conn, endpoint_ids: Iterable[str], at_ms: int) -> None:
    conn.executemany(
        "UPDATE endpoint_state SET next_due_at = ?"
        " WHERE endpoint_id = ? AND (next_due_at IS NULL OR next_due_at > ?)",
        # in id order, as every verb that locks several endpoints' rows: no deadlocks
        [(at_ms, ep, at_ms) for ep in sorted(set(endpoint_ids))],
    )


def refresh_due(
    conn: Conn, endpoint_id: str, fifo: bool, not_before: int | None = None
) -> int | None:
    """Recompute when the endpoint next has work: its earliest due row, or for a FIFO
    endpoint the head of its line (nothing behind the head may go first); no earlier
    than ``not_before`` (an endpoint at its cap: its first lease end). Returns the
    earliest due row, whatever ``not_before``."""
    if fifo:
        head = fifo_head(conn, endpoint_id)
        due = None if head is None else head[1]
    else:
        due = conn.execute(
            "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = ?", (endpoint_id,)
        ).fetchone()[0]
    held = due if due is None or not_before is None else max(due, not_before)
    conn.execute(
        "UPDATE endpoint_state SET next_due_at = ? WHERE endpoint_id = ?", (held, endpoint_id)
    )
    return None if due is None else int(due)


def fifo_head(conn: Conn, endpoint_id: str) -> tuple[str, int | None, int] | None:
    """The oldest live delivery of the endpoint: (id, next_attempt_at, status)."""
    heads = [
        conn.execute(
            "SELECT id, next_attempt_at, status FROM delivery"
            " WHERE endpoint_id = ? AND status = ? ORDER BY id LIMIT 1",
            (endpoint_id, status),
        ).fetchone()
        for status in (PENDING, SENDING)
    ]
    live = [h for h in heads if h is not None]
    return min(live) if live else None


def park_endpoint(conn: Conn, endpoint_id: str) -> None:
    """A disabled endpoint's deliveries leave the queue until it is enabled again."""
    conn.execute(
        "UPDATE delivery SET next_attempt_at = NULL, status = ?, lease_owner = NULL"
        " WHERE endpoint_id = ? AND next_attempt_at IS NOT NULL AND lease_owner IS NULL",
        (PENDING, endpoint_id),
    )
    conn.execute(
        "UPDATE endpoint_state SET next_due_at = NULL WHERE endpoint_id = ?", (endpoint_id,)
    )


def unpark_endpoint(conn: Conn, endpoint_id: str, now_ms: int) -> None:
    conn.execute(
        "UPDATE delivery SET next_attempt_at = ? WHERE endpoint_id = ? AND status = ?"
        " AND next_attempt_at IS NULL",
        (now_ms, endpoint_id, PENDING),
    )
    conn.execute(
        "UPDATE endpoint_state SET paused_until = NULL, breaker_state = 0, failure_streak = 0,"
        " failing_since = NULL WHERE endpoint_id = ?",
        (endpoint_id,),
    )
    mark_due(conn, [endpoint_id], now_ms)


# ----- claims ---------------------------------------------------------------------------


def ready_endpoints(
    conn: Conn, now_ms: int, limit: int, exclude: Sequence[str]
) -> list[ReadyEndpoint]:
    skip = f" AND s.endpoint_id NOT IN ({marks(len(exclude))})" if exclude else ""
    found = conn.execute(
        f"{_READY} WHERE s.next_due_at <= ? AND (s.paused_until IS NULL OR s.paused_until <= ?)"
        # a tunnel endpoint's deliveries wait for a connected listener, which claims them
        f" AND e.url <> ?{skip} ORDER BY s.next_due_at LIMIT ?",
        (now_ms, now_ms, TUNNEL_URL, *exclude, limit),
    ).fetchall()
    return [_ready(r) for r in found]


def ready_tunnel(conn: Conn, endpoint_id: str, now_ms: int) -> ReadyEndpoint | None:
    """A tunnel endpoint, if it has due work and no pause: what its listener claims from
    (``ready_endpoints`` leaves tunnel endpoints out)."""
    found = conn.execute(
        f"{_READY} WHERE s.endpoint_id = ? AND e.url = ? AND s.next_due_at <= ?"
        " AND (s.paused_until IS NULL OR s.paused_until <= ?)",
        (endpoint_id, TUNNEL_URL, now_ms, now_ms),
    ).fetchone()
    return None if found is None else _ready(found)


_READY = (
    "SELECT s.endpoint_id, s.app_id, e.max_in_flight, e.rate_limit, a.rate_limit, e.fifo,"
    " s.breaker_state, s.next_due_at FROM endpoint_state s"
    " JOIN endpoint e ON e.id = s.endpoint_id"
    " LEFT JOIN application a ON a.id = s.app_id"
)


def _ready(r: Any) -> ReadyEndpoint:
    return ReadyEndpoint(
        endpoint_id=r[0],
        app_id=r[1],
        max_in_flight=r[2],
        rate_limit=r[3],
        app_rate_limit=r[4],
        fifo=bool(r[5]),
        breaker_state=r[6],
        next_due_at=r[7],
    )


def release(conn: Conn, owner: str, now_ms: int) -> None:
    """Hand back everything ``owner`` still leases, due at once."""
    released = conn.execute(
        "UPDATE delivery SET status = ?, lease_owner = NULL, next_attempt_at = ?"
        " WHERE lease_owner = ? RETURNING endpoint_id",
        (PENDING, now_ms, owner),
    ).fetchall()
    mark_due(conn, sorted({r[0] for r in released}), now_ms)  # lock order: endpoint id


def next_due_at(conn: Conn) -> int | None:
    value = conn.execute(
        "SELECT MIN(CASE WHEN paused_until > next_due_at THEN paused_until"
        " ELSE next_due_at END) FROM endpoint_state WHERE next_due_at IS NOT NULL"
    ).fetchone()[0]
    return None if value is None else int(value)
