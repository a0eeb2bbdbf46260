"""Passes over whole tables in SQLite: retention and re-encryption of secrets.

Each walks in id order, a bounded batch per transaction, so it never holds the single
writer long enough to stall delivery, and a restarted pass continues where it stopped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from hookline import ids
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store.base import PurgeBatch
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn
from hookline.store.sql_sources import resealed_source


class UpkeepOps(SqlBase):
    async def purge_expired(
        self, before_ms: int, limit: int, resume: PurgeBatch | None = None
    ) -> PurgeBatch:
        start = resume or PurgeBatch()

        def op(conn: Conn) -> PurgeBatch:
            msg_purged, msg_cursor, msg_done = _purge_range(
                conn,
                "message",
                "payload = NULL",
                "payload IS NOT NULL",
                start.message_cursor,
                ids.boundary_id("msg", before_ms),
                limit,
            )
            # a fan-out still pending for a purged message has nothing left to send
            conn.execute(
                "DELETE FROM fanout WHERE msg_id < ?", (ids.boundary_id("msg", before_ms),)
            )
            att_purged, att_cursor, att_done = _purge_range(
                conn,
                "attempt",
                "response_body = ''",
                "response_body != ''",
                start.attempt_cursor,
                ids.boundary_id("atmpt", before_ms),
                limit,
            )
            return PurgeBatch(
                purged=msg_purged + att_purged,
                message_cursor=msg_cursor,
                attempt_cursor=att_cursor,
                done=msg_done and att_done,
            )

        return await self._write(op)

    async def reseal_secrets(self, batch_size: int = 500) -> int:
        """Re-encrypt every endpoint secret, source config and token, and received
        request's sealed credentials not yet under the current key, one batch per
        transaction, so older keys can be dropped afterwards; returns how many endpoints,
        sources and requests were rewritten. Safe to run while the server runs, and to
        run again."""
        rewritten = 0
        for sealed in _SEALED:
            after = ""
            while True:
                batch = functools.partial(
                    _reseal_batch, box=self._box, sealed=sealed, after=after, limit=batch_size
                )
                changed, last = await self._write(batch)
                rewritten += changed
                if last is None:
                    break
                after = last
        return rewritten


def _purge_range(
    conn: Conn, table: str, assign: str, live: str, after: str, before: str, limit: int
) -> tuple[int, str, bool]:
    """Purge the next ``limit`` rows of ``table`` with ``after < id < before``:
    (rows changed, new cursor, whether the walk reached ``before``)."""
    walked = conn.execute(
        f"SELECT id FROM {table} WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
        (after, before, limit),
    ).fetchall()
    if not walked:
        return 0, after, True
    last = str(walked[-1][0])
    changed = conn.execute(
        f"UPDATE {table} SET {assign} WHERE id > ? AND id <= ? AND {live}", (after, last)
    ).rowcount
    return changed, last, len(walked) < limit


@dataclass(frozen=True, slots=True)
class _SealedColumns:
    """One table's sealed columns, and how a row's values come out under the current key
    (None when they already are)."""

    table: str
    columns: tuple[str, ...]
    resealed: Callable[[SecretBox, tuple[str, ...]], tuple[str, ...] | None]
    only: str = ""  # a condition that narrows the walk to rows holding a sealed value


def _resealed_request(box: SecretBox, values: tuple[str, ...]) -> tuple[str, ...] | None:
    (sealed,) = values
    return (box.seal(box.open_uncached(sealed)),) if box.needs_reseal(sealed) else None


_SEALED = (
    _SealedColumns(
        "endpoint",
        ("secret", "old_secrets"),
        lambda box, v: rows.resealed_endpoint_secrets(v[0], v[1], box),
    ),
    _SealedColumns("source", ("config", "token"), lambda box, v: resealed_source(v[0], v[1], box)),
    # the received requests that hold sealed credentials only (a partial index holds those)
    _SealedColumns(
        "inbound_request", ("sealed_headers",), _resealed_request, "sealed_headers IS NOT NULL AND "
    ),
)


def _reseal_batch(
    conn: Conn, box: SecretBox, sealed: _SealedColumns, after: str, limit: int
) -> tuple[int, str | None]:
    """Reads and rewrites in the writer's transaction, so a concurrent secret rotation is
    never overwritten with the value read before it."""
    found = conn.execute(
        f"SELECT id, {', '.join(sealed.columns)} FROM {sealed.table}"
        f" WHERE {sealed.only}id > ? ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    updates = []
    for row_id, *values in found:
        resealed = sealed.resealed(box, tuple(values))
        if resealed is not None:
            updates.append((*resealed, row_id))
    assign = ", ".join(f"{c} = ?" for c in sealed.columns)
    conn.executemany(f"UPDATE {sealed.table} SET {assign} WHERE id = ?", updates)
    return len(updates), (found[-1][0] if found else None)
