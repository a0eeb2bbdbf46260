"""Fan-out in SQLite: a message's deliveries, inline or in background batches.

A publish costs a bounded amount whatever the number of endpoints: the transaction that
stores the message reads at most ``INLINE_FANOUT + 1`` enabled endpoints. With at most
``INLINE_FANOUT`` it inserts their deliveries there and then (one write, no extra hop for
the common small application); with more it inserts a ``fanout`` row instead, and the
worker's fan-out role creates the deliveries in batches (``fan_out_batch``). Each batch
reads the row's cursor inside the write transaction and commits its deliveries together
with the moved cursor, so a crash between batches resumes where it stopped: no delivery
lost, none created twice, and two processes on one message serialise on the row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import orjson

from hookline import filters, ids
from hookline.errors import Conflict, NotFound
from hookline.models import (
    OPERATIONAL_APP_ID,
    POLL_URL,
    POLLING_REFUSED,
    Message,
    TriggerType,
    is_polling,
    subscription_matches,
)
from hookline.store import rows
from hookline.store.base import FanoutStep
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn
from hookline.store.sql_queue import PENDING, mark_due, skip_locked

INLINE_FANOUT = 16
"""Most endpoints a publish fans out to inside its own transaction. Sixteen keeps the
publish transaction to a few hundred microseconds of inserts (what one publish may hold
the single writer for) while the one-endpoint publish stays a single write."""

FilterSpec = tuple[list[str] | None, list[str] | None, str]  # event types, channels, filter
EndpointRow = tuple[str, str | None, str | None, str | None]  # id, types, channels, filter


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


class Enqueued(NamedTuple):
    deliveries: int  # created in this transaction
    background: bool  # a fanout row will create the rest


_INSERT_MESSAGE = (
    f"INSERT INTO message ({rows.MESSAGE_COLS}) VALUES ({rows.marks_for(rows.MESSAGE_COLS)})"
)
_INSERT_DELIVERY = (
    "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts,"
    " next_attempt_at, trigger, lease_owner, created_at, updated_at)"
    " VALUES (?,?,?,?,?,0,?,?,NULL,?,?)"
)


def enqueue_message(
    conn: Conn, message: Message, now_ms: int, prejudged: Prejudged | None = None
) -> Enqueued:
    """Insert ``message`` and either one delivery per matching enabled endpoint or, past
    ``INLINE_FANOUT`` candidates, a ``fanout`` row.

    Filters come from ``prejudged`` when given (a filter it lacks raises
    ``MissingVerdicts``); otherwise they run here, within their budget.
    """
    candidates: list[EndpointRow] = conn.execute(
        "SELECT id, event_types, channels, payload_filter FROM endpoint"
        " WHERE app_id = ? AND disabled = FALSE AND url <> ? LIMIT ?",
        (message.app_id, POLL_URL, INLINE_FANOUT + 1),
    ).fetchall()
    if len(candidates) > INLINE_FANOUT:
        if prejudged is not None:
            prejudged.filtered = []  # nothing to evaluate ahead: batches judge their own
        conn.execute(_INSERT_MESSAGE, rows.message_params(message))
        conn.execute(
            "INSERT INTO fanout (msg_id, app_id, cursor, created_at) VALUES (?, ?, NULL, ?)",
            (message.id, message.app_id, now_ms),
        )
        return Enqueued(0, background=True)
    targets = _targets(candidates, message, prejudged)
    conn.execute(_INSERT_MESSAGE, rows.message_params(message))
    _insert_deliveries(conn, message, targets, now_ms)
    return Enqueued(len(targets), background=False)


def enqueue_for_endpoint(conn: Conn, message: Message, endpoint_id: str, now_ms: int) -> None:
    """Insert ``message`` with one delivery, to ``endpoint_id`` alone (an endpoint's test
    event): no fan-out, whatever the endpoint's subscriptions. The endpoint must be an
    enabled endpoint of the message's application (else nothing is written)."""
    found = conn.execute(
        "SELECT disabled, url FROM endpoint WHERE id = ? AND app_id = ?",
        (endpoint_id, message.app_id),
    ).fetchone()
    if found is None:
        raise NotFound(f"endpoint {endpoint_id!r} not found")
    if is_polling(str(found[1])):
        raise Conflict(POLLING_REFUSED)
    if found[0]:
        raise Conflict("the endpoint is disabled; enable it first")
    conn.execute(_INSERT_MESSAGE, rows.message_params(message))
    _insert_deliveries(conn, message, [endpoint_id], now_ms)


def _targets(
    candidates: Iterable[EndpointRow], message: Message, prejudged: Prejudged | None
) -> list[str]:
    """The endpoints among ``candidates`` that want ``message``."""
    document: Any = None
    targets: list[str] = []
    filtered: list[FilterSpec] = []
    missing = False
    for ep_id, event_types, channels, payload_filter in candidates:
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
    return targets


def _insert_deliveries(conn: Conn, message: Message, targets: list[str], now_ms: int) -> None:
    """Due now, or at the message's ``deliverAt`` (a scheduled send): the due time is the
    queue itself, so the schedule survives a restart like any retry time."""
    due = now_ms if message.deliver_at is None else max(now_ms, message.deliver_at)
    conn.executemany(
        _INSERT_DELIVERY,
        [
            (
                ids.new_id("dlv", now_ms),
                message.id,
                ep,
                message.app_id,
                PENDING,
                due,
                int(TriggerType.SCHEDULED),
                now_ms,
                now_ms,
            )
            for ep in targets
        ],
    )
    mark_due(conn, targets, due)


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


# ----- background batches -----------------------------------------------------------


def pending_fanouts(conn: Conn, limit: int) -> list[str]:
    """Messages whose fan-out is unfinished, oldest first."""
    found = conn.execute("SELECT msg_id FROM fanout ORDER BY msg_id LIMIT ?", (limit,))
    return [r[0] for r in found]


@dataclass(slots=True)
class Batch:
    """The next batch of one message's fan-out, as read at the row's current cursor."""

    message: Message
    endpoints: list[EndpointRow]
    bounded: bool = False  # stopped short at an older message's cursor, not at the end


def next_batch(conn: Conn, msg_id: str, size: int) -> Batch | None:
    """The message and the next ``size`` endpoints its fan-out walks: the enabled ones of
    its application, in id order after the cursor, created no later than the message (an
    endpoint made after a publish does not get it). None when there is nothing to do.

    On PostgreSQL, where batches of one application's messages run concurrently, a batch
    goes no further than the cursor of the application's next older pending fan-out, so
    an endpoint gets an older message's delivery (and its lower id) first: a FIFO
    endpoint's line stays in publish order. SQLite's writer runs them in that order."""
    state = conn.execute("SELECT cursor FROM fanout WHERE msg_id = ?", (msg_id,)).fetchone()
    if state is None:
        return None
    message = _message_of(conn, msg_id)
    if message is None:  # deleted with its application
        return None
    if message.payload is None:  # past retention: nothing left to send
        return Batch(message, [])
    bound = _older_cursor(conn, message) if conn.dialect == "postgresql" else None
    upto, limits = ("", []) if bound is None else (" AND id <= ?", [bound])
    endpoints = conn.execute(
        "SELECT id, event_types, channels, payload_filter FROM endpoint"
        f" WHERE app_id = ? AND id > ?{upto} AND disabled = FALSE AND created_at <= ?"
        " AND url <> ? ORDER BY id LIMIT ?",
        (message.app_id, state[0] or "", *limits, message.created_at, POLL_URL, size),
    ).fetchall()
    return Batch(message, endpoints, bounded=bound is not None and len(endpoints) < size)


def _older_cursor(conn: Conn, message: Message) -> str | None:
    """The cursor of the application's next older pending fan-out ('' if it has not
    started), or None if there is none."""
    older = conn.execute(
        "SELECT cursor FROM fanout WHERE app_id = ? AND msg_id < ? ORDER BY msg_id DESC LIMIT 1",
        (message.app_id, message.id),
    ).fetchone()
    return None if older is None else str(older[0] or "")


def _message_of(conn: Conn, msg_id: str) -> Message | None:
    r = conn.execute(f"SELECT {rows.MESSAGE_COLS} FROM message WHERE id = ?", (msg_id,)).fetchone()
    return None if r is None else rows.message_from_row(r)


def fan_out_batch(
    conn: Conn, msg_id: str, now_ms: int, size: int, prejudged: Prejudged
) -> FanoutStep:
    """One batch in one transaction: the cursor is read here, under the write lock (the
    row's lock on PostgreSQL), and moves in the same transaction as the deliveries it
    covers; the row goes after the last. A row another worker holds is that worker's
    batch: this one returns at once without work."""
    if not _lock_fanout(conn, msg_id):
        return FanoutStep(0, done=False, blocked=True)
    batch = next_batch(conn, msg_id, size)
    if batch is None:
        conn.execute("DELETE FROM fanout WHERE msg_id = ?", (msg_id,))
        return FanoutStep(0, done=True)
    if batch.bounded and not batch.endpoints:
        return FanoutStep(0, done=False, blocked=True)  # an older message's goes first
    targets = _targets(batch.endpoints, batch.message, prejudged) if batch.endpoints else []
    _insert_deliveries(conn, batch.message, targets, now_ms)
    if len(batch.endpoints) < size and not batch.bounded:
        conn.execute("DELETE FROM fanout WHERE msg_id = ?", (msg_id,))
        return FanoutStep(len(targets), done=True)
    conn.execute("UPDATE fanout SET cursor = ? WHERE msg_id = ?", (batch.endpoints[-1][0], msg_id))
    return FanoutStep(len(targets), done=False)


def _lock_fanout(conn: Conn, msg_id: str) -> bool:
    """False when another transaction holds the message's fanout row (PostgreSQL)."""
    if conn.dialect != "postgresql":
        return True  # the single writer serialises batches
    sql = "SELECT 1 FROM fanout WHERE msg_id = ?"
    if conn.execute(sql + skip_locked(conn), (msg_id,)).fetchone() is not None:
        return True
    return conn.execute(sql, (msg_id,)).fetchone() is None  # gone: nothing to wait for


class FanoutOps(SqlBase):
    """The background fan-out verbs of ``Store``."""

    async def pending_fanouts(self, limit: int) -> list[str]:
        return await self._read(lambda conn: pending_fanouts(conn, limit))

    async def fan_out(self, msg_id: str, now_ms: int, batch_size: int) -> FanoutStep:
        """Filters never run under the writer unless they changed meanwhile: a batch that
        meets one not yet evaluated writes nothing and names them; they are evaluated in
        a thread and the batch runs again (the third try evaluates in place, within the
        filters' budget). A batch without filters is one write and no read."""
        verdicts: dict[str, bool] = {}
        for attempt in range(3):
            prejudged = Prejudged(verdicts, evaluate_missing=attempt == 2)
            try:
                step = await self._write(
                    partial(
                        fan_out_batch,
                        msg_id=msg_id,
                        now_ms=now_ms,
                        size=batch_size,
                        prejudged=prejudged,
                    ),
                    own_locks=True,
                )
            except MissingVerdicts as exc:
                verdicts = verdicts | await self._judge(msg_id, exc.filtered)
                continue
            if step.deliveries:
                self._work.set()
            return step
        raise AssertionError("the last attempt evaluates missing filters itself")

    async def _judge(self, msg_id: str, specs: list[FilterSpec]) -> dict[str, bool]:
        message = await self._read(lambda conn: _message_of(conn, msg_id))
        if message is None or message.payload is None:
            return {}
        wanted = {
            expression
            for types, channels, expression in specs
            if subscription_matches(types, channels, message.event_type, message.channels)
        }
        return await self._off_writer(partial(filters.verdicts, sorted(wanted), message.payload))

    async def wait_for_fanout(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._fanout_work.wait(), timeout)
        except TimeoutError:
            pass
        self._fanout_work.clear()
