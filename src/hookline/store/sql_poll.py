"""Message streams read by polling, and the cursors of polling endpoints' consumers.

A stream is an application's messages in id order. Ids are dated when a publish starts
and rows commit a moment later, in any order across processes, so a reader is given
only ids below a bound the caller computes from a settle window: a message that commits
after a newer one is still ahead of every cursor handed out.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from hookline import filters
from hookline.errors import NotFound
from hookline.models import Message, is_polling, subscription_matches
from hookline.store import rows
from hookline.store.records import StreamFilter, StreamPage
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn

# Messages one read examines at most, and per query: a sink whose filters match rarely
# costs several short reads, each ending with a cursor, never one long scan.
SCAN_BUDGET = 2000
_BATCH = 500
# Payload filters run on the reader's thread; past this the read ends early (the
# cursor stays at the last message judged).
FILTER_BUDGET_S = 0.5


def _wanted(flt: StreamFilter, message: Message) -> bool:
    if flt.event_type is not None and message.event_type != flt.event_type:
        return False
    if flt.channel is not None and flt.channel not in (message.channels or ()):
        return False
    types = list(flt.event_types) if flt.event_types else None
    channels = list(flt.channels) if flt.channels else None
    if not subscription_matches(types, channels, message.event_type, message.channels):
        return False
    if flt.payload_filter is None:
        return True
    if message.payload is None:  # past retention: nothing to judge, nothing to hand out
        return False
    return filters.matches(flt.payload_filter, orjson.loads(message.payload))


def read_stream(
    conn: Conn, app_id: str, after: str, below: str, flt: StreamFilter, limit: int
) -> StreamPage:
    """Up to ``limit`` wanted messages with ``after < id < below``, oldest first."""
    found: list[Message] = []
    cursor, examined, started = after, 0, time.monotonic()
    while examined < SCAN_BUDGET:
        batch = conn.execute(
            f"SELECT {rows.MESSAGE_COLS} FROM message WHERE app_id = ? AND id > ? AND id < ?"
            " ORDER BY id LIMIT ?",
            (app_id, cursor, below, _BATCH),
        ).fetchall()
        for r in batch:
            message = rows.message_from_row(r)
            cursor, examined = message.id, examined + 1
            if _wanted(flt, message):
                found.append(message)
                if len(found) == limit:
                    return StreamPage(found, cursor, done=False)
            if flt.payload_filter and time.monotonic() - started > FILTER_BUDGET_S:
                return StreamPage(found, cursor, done=False)
        if len(batch) < _BATCH:
            return StreamPage(found, cursor, done=True)
    return StreamPage(found, cursor, done=False)


def _polling_endpoint(conn: Conn, app_id: str, endpoint_id: str) -> None:
    r = conn.execute(
        "SELECT url FROM endpoint WHERE id = ? AND app_id = ?", (endpoint_id, app_id)
    ).fetchone()
    if r is None or not is_polling(str(r[0])):
        raise NotFound(f"polling endpoint {endpoint_id!r} not found")


def delete_consumers(conn: Conn, column: str, value: str) -> None:
    """Drop the cursors of a deleted endpoint (``endpoint_id``) or application (``app_id``)."""
    assert column in ("endpoint_id", "app_id")
    conn.execute(f"DELETE FROM poll_consumer WHERE {column} = ?", (value,))


class PollOps(SqlBase):
    async def read_stream(
        self, app_id: str, after: str, below: str, flt: StreamFilter, limit: int
    ) -> StreamPage:
        return await self._read(lambda conn: read_stream(conn, app_id, after, below, flt, limit))

    async def poll_cursor(self, app_id: str, endpoint_id: str, consumer_id: str) -> str | None:
        def op(conn: Conn) -> str | None:
            r = conn.execute(
                "SELECT cursor FROM poll_consumer"
                " WHERE app_id = ? AND endpoint_id = ? AND consumer_id = ?",
                (app_id, endpoint_id, consumer_id),
            ).fetchone()
            return None if r is None else str(r[0])

        return await self._read(op)

    async def commit_poll_cursor(
        self,
        app_id: str,
        endpoint_id: str,
        consumer_id: str,
        cursor: str,
        now_ms: int,
        *,
        seek: bool = False,
    ) -> str:
        """Store a consumer's cursor; the one stored afterwards is returned. A commit only
        moves it forward (a repeated or late request cannot take a consumer back past
        what it acknowledged); a seek sets it either way."""

        def op(conn: Conn) -> str:
            _polling_endpoint(conn, app_id, endpoint_id)
            key: tuple[Any, ...] = (app_id, endpoint_id, consumer_id)
            r = conn.execute(
                "SELECT cursor FROM poll_consumer"
                " WHERE app_id = ? AND endpoint_id = ? AND consumer_id = ?",
                key,
            ).fetchone()
            if r is None:
                conn.execute(
                    "INSERT INTO poll_consumer (app_id, endpoint_id, consumer_id, cursor,"
                    " updated_at) VALUES (?, ?, ?, ?, ?)",
                    (*key, cursor, now_ms),
                )
                return cursor
            if not seek and str(r[0]) >= cursor:
                return str(r[0])
            conn.execute(
                "UPDATE poll_consumer SET cursor = ?, updated_at = ?"
                " WHERE app_id = ? AND endpoint_id = ? AND consumer_id = ?",
                (cursor, now_ms, *key),
            )
            return cursor

        return await self._write(op)
