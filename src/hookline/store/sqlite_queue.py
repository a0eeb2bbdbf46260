"""The delivery queue in SQLite: per-endpoint claims under a lease (fan-out is in
``sqlite_fanout``).

Plain functions of a connection, run inside the store's group-commit writer. Work is
scheduled per endpoint: ``endpoint_state.next_due_at`` says when an endpoint next has
due deliveries, so a claim first picks endpoints and then takes each one's due rows
through the ``(endpoint_id, next_attempt_at)`` index. One endpoint's backlog, outage or
open breaker never stands in front of another endpoint's work, and a claim costs the
same with ten thousand queued rows as with ten million.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from hookline import breaker
from hookline.models import (
    DeliveryStatus,
    DeliveryTask,
    ReadyEndpoint,
    TriggerType,
)
from hookline.signing.at_rest import SecretBox
from hookline.store import rows

Conn = sqlite3.Connection
PENDING, SENDING = int(DeliveryStatus.PENDING), int(DeliveryStatus.SENDING)


def marks(n: int) -> str:
    return ",".join("?" * n)


# ----- scheduling rows ------------------------------------------------------------------


def add_endpoint_state(conn: Conn, endpoint_id: str, app_id: str) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO endpoint_state (endpoint_id, app_id, next_due_at, paused_until,"
        " breaker_state, failure_streak, cooldown_ms, failing_since, last_success_at)"
        " VALUES (?, ?, NULL, NULL, 0, 0, 0, NULL, NULL)",
        (endpoint_id, app_id),
    )


def mark_due(conn: Conn, endpoint_ids: Iterable[str], at_ms: int) -> None:
    conn.executemany(
        "UPDATE endpoint_state SET next_due_at = MIN(COALESCE(next_due_at, ?1), ?1)"
        " WHERE endpoint_id = ?2",
        [(at_ms, ep) for ep in endpoint_ids],
    )


def refresh_due(conn: Conn, endpoint_id: str, fifo: bool) -> None:
    """Recompute when the endpoint next has work: its earliest due row, or for a FIFO
    endpoint the head of its line (nothing behind the head may go first)."""
    if fifo:
        head = fifo_head(conn, endpoint_id)
        due = None if head is None else head[1]
    else:
        due = conn.execute(
            "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint_id = ?", (endpoint_id,)
        ).fetchone()[0]
    conn.execute(
        "UPDATE endpoint_state SET next_due_at = ? WHERE endpoint_id = ?", (due, endpoint_id)
    )


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
        "SELECT s.endpoint_id, s.app_id, e.max_in_flight, e.rate_limit, a.rate_limit, e.fifo,"
        " s.breaker_state, s.next_due_at FROM endpoint_state s"
        " JOIN endpoint e ON e.id = s.endpoint_id"
        " LEFT JOIN application a ON a.id = s.app_id"
        " WHERE s.next_due_at <= ? AND (s.paused_until IS NULL OR s.paused_until <= ?)"
        f"{skip} ORDER BY s.next_due_at LIMIT ?",
        (now_ms, now_ms, *exclude, limit),
    ).fetchall()
    return [
        ReadyEndpoint(
            endpoint_id=r[0],
            app_id=r[1],
            max_in_flight=r[2],
            rate_limit=r[3],
            app_rate_limit=r[4],
            fifo=bool(r[5]),
            breaker_state=r[6],
            next_due_at=r[7],
        )
        for r in found
    ]


def claim(
    conn: Conn,
    owner: str,
    plan: Sequence[tuple[ReadyEndpoint, int]],
    now_ms: int,
    lease_ms: int,
    pauses: Sequence[tuple[str, int]],
    box: SecretBox,
) -> list[DeliveryTask]:
    """Lease up to ``n`` due deliveries of each planned endpoint.

    The lease expiry becomes ``next_attempt_at``, so a crashed worker's deliveries fall
    due again by themselves (at-least-once); each task carries it as ``lease_until``, the
    token its result is fenced by. An open breaker's endpoint gets its probe.
    """
    lease_until = now_ms + lease_ms
    claimed: list[tuple[str, str, str, int, int]] = []
    for ready, n in plan:
        if n <= 0:
            continue
        if ready.fifo:
            head = fifo_head(conn, ready.endpoint_id)
            if head is None or head[1] is None or head[1] > now_ms:  # in flight, or not due
                refresh_due(conn, ready.endpoint_id, fifo=True)
                continue
            picked = "SELECT ? "
            params: tuple[Any, ...] = (head[0],)
        else:
            picked = (
                "SELECT id FROM delivery WHERE endpoint_id = ? AND next_attempt_at <= ?"
                " ORDER BY next_attempt_at LIMIT ?"
            )
            params = (ready.endpoint_id, now_ms, n)
        taken = conn.execute(
            "UPDATE delivery SET status = ?, lease_owner = ?, next_attempt_at = ?"
            f" WHERE id IN ({picked}) RETURNING id, msg_id, endpoint_id, attempts, trigger",
            (SENDING, owner, lease_until, *params),
        ).fetchall()
        claimed.extend(taken)
        if taken and ready.breaker_state != breaker.CLOSED:  # this send is the probe
            conn.execute(
                "UPDATE endpoint_state SET breaker_state = ?, paused_until = ?"
                " WHERE endpoint_id = ?",
                (breaker.HALF_OPEN, lease_until, ready.endpoint_id),
            )
        refresh_due(conn, ready.endpoint_id, ready.fifo)
    conn.executemany(
        "UPDATE endpoint_state SET paused_until = MAX(COALESCE(paused_until, 0), ?)"
        " WHERE endpoint_id = ?",
        [(until, ep) for ep, until in pauses],
    )
    return _tasks_for(conn, claimed, now_ms, lease_until, box) if claimed else []


def _tasks_for(
    conn: Conn,
    claimed: list[tuple[str, str, str, int, int]],
    now_ms: int,
    lease_until: int,
    box: SecretBox,
) -> list[DeliveryTask]:
    msg_ids = list({r[1] for r in claimed})
    ep_ids = list({r[2] for r in claimed})
    messages = {
        r[0]: r if r[6] is None else (*r[:6], rows.load(r[6]))  # headers parsed once
        for r in conn.execute(
            "SELECT id, app_id, event_type, payload, created_at, event_id, headers FROM message"
            f" WHERE id IN ({marks(len(msg_ids))})",
            msg_ids,
        )
    }
    endpoints = {
        r[0]: rows.endpoint_from_row(r, box)
        for r in conn.execute(
            f"SELECT {rows.ENDPOINT_COLS} FROM endpoint WHERE id IN ({marks(len(ep_ids))})",
            ep_ids,
        )
    }
    tasks: list[DeliveryTask] = []
    dropped: list[tuple[int, str]] = []
    for dlv_id, msg_id, ep_id, attempts, trigger in claimed:
        msg = messages.get(msg_id)
        ep = endpoints.get(ep_id)
        if msg is None or msg[3] is None or ep is None:  # deleted, or payload expired
            dropped.append((int(DeliveryStatus.FAILED), dlv_id))
            continue
        if ep.disabled:
            dropped.append((PENDING, dlv_id))
            continue
        tasks.append(
            DeliveryTask(
                delivery_id=dlv_id,
                attempts=attempts,
                trigger=TriggerType(trigger),
                msg_id=msg_id,
                app_id=msg[1],
                event_type=msg[2],
                payload=bytes(msg[3]),
                msg_created_at=msg[4],
                endpoint_id=ep_id,
                url=ep.url,
                headers=ep.headers,
                signing_keys=tuple(ep.signing_keys(now_ms)),
                endpoint_uid=ep.uid,
                event_id=msg[5],
                lease_until=lease_until,
                original_headers=msg[6],
                forward_headers=_lowered(ep.forward_headers),
            )
        )
    conn.executemany(
        "UPDATE delivery SET status = ?, next_attempt_at = NULL, lease_owner = NULL WHERE id = ?",
        dropped,
    )
    return tasks


def _lowered(names: list[str] | None) -> tuple[str, ...]:
    return tuple(n.lower() for n in names) if names else ()


def release(conn: Conn, owner: str, now_ms: int) -> None:
    """Hand back everything ``owner`` still leases, due at once."""
    released = conn.execute(
        "UPDATE delivery SET status = ?, lease_owner = NULL, next_attempt_at = ?"
        " WHERE lease_owner = ? RETURNING endpoint_id",
        (PENDING, now_ms, owner),
    ).fetchall()
    mark_due(conn, {r[0] for r in released}, now_ms)


def next_due_at(conn: Conn) -> int | None:
    value = conn.execute(
        "SELECT MIN(MAX(next_due_at, COALESCE(paused_until, 0))) FROM endpoint_state"
        " WHERE next_due_at IS NOT NULL"
    ).fetchone()[0]
    return None if value is None else int(value)
