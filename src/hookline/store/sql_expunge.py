"""Expunge: a message's payload, or an attempt's response body, gone for good.

The message stays (its id, type, channels, tags and attempts still list); its payload
goes from every place it is kept: the message row and the received request it was made
from. A delivery still waiting for it is cancelled in the same transaction, so nothing
is ever sent with an empty or missing body: the expunged message is never sent again,
and the delivery's status (canceled) says why. A send already in flight finishes with
the payload it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from hookline import ids
from hookline.errors import NotFound
from hookline.models import BackgroundTask, DeliveryStatus, TaskStatus
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn

MAX_BULK_IDS = 1000
"""Messages one ``bulk-expunge`` call names at most: one write transaction."""


def _message_id(conn: Conn, app_id: str, ref: str) -> str | None:
    found = conn.execute(
        "SELECT id FROM message WHERE app_id = ? AND (id = ? OR event_id = ?)", (app_id, ref, ref)
    ).fetchone()
    return None if found is None else str(found[0])


def expunge_rows(conn: Conn, msg_ids: Sequence[str]) -> int:
    """Drop the payload of ``msg_ids`` everywhere; returns how many still had one."""
    if not msg_ids:
        return 0
    had = 0
    for msg_id in msg_ids:
        had += conn.execute(
            "UPDATE message SET payload = NULL WHERE id = ? AND payload IS NOT NULL", (msg_id,)
        ).rowcount
    conn.executemany(
        "UPDATE inbound_request SET body = NULL WHERE msg_id = ?", [(m,) for m in msg_ids]
    )
    conn.executemany("DELETE FROM fanout WHERE msg_id = ?", [(m,) for m in msg_ids])
    # waiting deliveries will never be sent: cancelled, not left for a claim to fail
    conn.executemany(
        "UPDATE delivery SET status = ?, next_attempt_at = NULL, lease_owner = NULL"
        " WHERE msg_id = ? AND status = ?",
        [(int(DeliveryStatus.CANCELED), m, int(DeliveryStatus.PENDING)) for m in msg_ids],
    )
    return had


def purge_chunk(conn: Conn, task: BackgroundTask, now_ms: int, chunk: int) -> None:
    """The next ``chunk`` messages of an application's expunge-all task, in id order; the
    cursor moves with them, so a restart resumes after the last chunk committed."""
    task.updated_at = now_ms
    where, args = (
        "app_id = ? AND id < ?",
        [task.app_id, ids.boundary_id("msg", task.params.until_ms)],
    )
    if task.cursor is not None:
        where += " AND id > ?"
        args.append(task.cursor)
    found = [
        str(r[0])
        for r in conn.execute(
            f"SELECT id FROM message WHERE {where} ORDER BY id LIMIT ?", (*args, chunk)
        )
    ]
    task.done_count += expunge_rows(conn, found)
    if found:
        task.cursor = found[-1]
    if len(found) < chunk:
        task.status = TaskStatus.FINISHED


class ExpungeOps(SqlBase):
    async def expunge_message(self, app_id: str, msg_ref: str) -> None:
        """Idempotent: expunging an expunged message changes nothing."""

        def op(conn: Conn) -> bool:
            msg_id = _message_id(conn, app_id, msg_ref)
            if msg_id is None:
                return False
            expunge_rows(conn, [msg_id])
            return True

        if not await self._write(op):
            raise NotFound(f"message {msg_ref!r} not found")

    async def bulk_expunge(self, app_id: str, msg_refs: Sequence[str]) -> dict[str, bool]:
        """Each reference (id or eventId) and whether it named a message of the app."""

        def op(conn: Conn) -> dict[str, bool]:
            found = {ref: _message_id(conn, app_id, ref) for ref in msg_refs}
            expunge_rows(conn, sorted({m for m in found.values() if m is not None}))
            return {ref: msg_id is not None for ref, msg_id in found.items()}

        return await self._write(op)

    async def expunge_attempt_content(self, app_id: str, msg_id: str, attempt_id: str) -> None:
        """The attempt's response body; the attempt itself stays."""

        def op(conn: Conn) -> bool:
            found = conn.execute(
                "SELECT 1 FROM attempt WHERE id = ? AND app_id = ? AND msg_id = ?",
                (attempt_id, app_id, msg_id),
            ).fetchone()
            if found is None:
                return False
            conn.execute("UPDATE attempt SET response_body = '' WHERE id = ?", (attempt_id,))
            return True

        if not await self._write(op):
            raise NotFound(f"attempt {attempt_id!r} not found")
