"""The delivery queue in SQLite: fan-out, per-endpoint claims under a lease, results.

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
from dataclasses import dataclass, field
from typing import Any

import orjson

from hookline import filters, ids
from hookline.models import (
    OPERATIONAL_APP_ID,
    DeliveryStatus,
    Message,
    ReadyEndpoint,
    TriggerType,
    subscription_matches,
)
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


# ----- fan-out --------------------------------------------------------------------------


FilterSpec = tuple[list[str] | None, list[str] | None, str]  # event types, channels, filter


@dataclass
class Prejudged:
    """Filter outcomes computed before the write, off the writer (filters can be slow).

    Fan-out fills ``filtered`` with the filtered endpoints it found, so the caller can
    tell next time which filters to evaluate ahead.
    """

    verdicts: dict[str, bool]
    evaluate_missing: bool = False  # evaluate here what is missing, rather than raise
    filtered: list[FilterSpec] = field(default_factory=list)


class MissingVerdicts(Exception):
    """A subscribed endpoint's filter was not evaluated ahead; nothing was written."""

    def __init__(self, filtered: list[FilterSpec]) -> None:
        super().__init__("payload filters changed since they were evaluated")
        self.filtered = filtered


_INSERT_MESSAGE = (
    f"INSERT INTO message ({rows.MESSAGE_COLS}) VALUES ({rows.marks_for(rows.MESSAGE_COLS)})"
)


def enqueue_message(
    conn: Conn, message: Message, now_ms: int, prejudged: Prejudged | None = None
) -> int:
    """Insert ``message`` and one delivery per matching enabled endpoint; returns the count.

    Filters come from ``prejudged`` when given (a filter it lacks raises
    ``MissingVerdicts``); otherwise they run here, within their budget.
    """
    document: Any = None
    targets: list[str] = []
    filtered: list[FilterSpec] = []
    missing = False
    for ep_id, event_types, channels, payload_filter in conn.execute(
        "SELECT id, event_types, channels, payload_filter FROM endpoint"
        " WHERE app_id = ? AND disabled = 0",
        (message.app_id,),
    ):
        wanted_types, wanted_channels = rows.load(event_types), rows.load(channels)
        if payload_filter:
            filtered.append((wanted_types, wanted_channels, payload_filter))
        if not subscription_matches(
            wanted_types, wanted_channels, message.event_type, message.channels
        ):
            continue
        if payload_filter:
            verdict = None if prejudged is None else prejudged.verdicts.get(payload_filter)
            if verdict is None and prejudged is not None and not prejudged.evaluate_missing:
                missing = True
                continue
            if verdict is None:
                if document is None:
                    document = orjson.loads(message.payload or b"null")
                verdict = filters.matches(payload_filter, document)
            if not verdict:
                continue
        targets.append(ep_id)
    if prejudged is not None:
        prejudged.filtered = filtered
    if missing:
        raise MissingVerdicts(filtered)
    conn.execute(_INSERT_MESSAGE, rows.message_params(message))
    conn.executemany(
        "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts,"
        " next_attempt_at, trigger, lease_owner, created_at, updated_at)"
        " VALUES (?,?,?,?,?,0,?,?,NULL,?,?)",
        [
            (
                ids.new_id("dlv", now_ms),
                message.id,
                ep,
                message.app_id,
                PENDING,
                now_ms,
                int(TriggerType.SCHEDULED),
                now_ms,
                now_ms,
            )
            for ep in targets
        ],
    )
    mark_due(conn, targets, now_ms)
    return len(targets)


def emit_operational(conn: Conn, event_type: str, data: dict[str, Any], now_ms: int) -> None:
    """An operational webhook, delivered and signed by the same engine as any message."""
    body = {"type": event_type, "timestamp": rows.iso(now_ms), "data": data}
    message = Message(
        id=ids.new_id("msg", now_ms),
        app_id=OPERATIONAL_APP_ID,
        event_type=event_type,
        payload=orjson.dumps(body),
        created_at=now_ms,
    )
    enqueue_message(conn, message, now_ms)


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
