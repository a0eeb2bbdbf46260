"""Passes over whole tables in SQLite: retention and re-encryption of secrets.

Each walks in id order, a bounded batch per transaction, so it never holds the single
writer long enough to stall delivery, and a restarted pass continues where it stopped.
"""

from __future__ import annotations

import functools

from hookline import ids
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store.base import PurgeBatch
from hookline.store.sqlite_base import Conn, SqliteBase
from hookline.store.sqlite_sources import resealed_source


class UpkeepOps(SqliteBase):
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
        for walk in (_reseal_batch, _reseal_source_batch, _reseal_request_batch):
            after = ""
            while True:
                batch = functools.partial(walk, box=self._box, after=after, limit=batch_size)
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


def _reseal_batch(conn: Conn, box: SecretBox, after: str, limit: int) -> tuple[int, str | None]:
    """Reads and rewrites in the writer's transaction, so a concurrent secret rotation is
    never overwritten with the value read before it."""
    found = conn.execute(
        "SELECT id, secret, old_secrets FROM endpoint WHERE id > ? ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    updates = []
    for endpoint_id, secret, old_secrets in found:
        resealed = rows.resealed_endpoint_secrets(secret, old_secrets, box)
        if resealed is not None:
            updates.append((*resealed, endpoint_id))
    conn.executemany("UPDATE endpoint SET secret = ?, old_secrets = ? WHERE id = ?", updates)
    return len(updates), (found[-1][0] if found else None)


def _reseal_source_batch(
    conn: Conn, box: SecretBox, after: str, limit: int
) -> tuple[int, str | None]:
    """As ``_reseal_batch``, for the sealed columns of sources."""
    found = conn.execute(
        "SELECT id, config, token FROM source WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
    ).fetchall()
    updates = []
    for source_id, config, token in found:
        resealed = resealed_source(config, token, box)
        if resealed is not None:
            updates.append((*resealed, source_id))
    conn.executemany("UPDATE source SET config = ?, token = ? WHERE id = ?", updates)
    return len(updates), (found[-1][0] if found else None)


def _reseal_request_batch(
    conn: Conn, box: SecretBox, after: str, limit: int
) -> tuple[int, str | None]:
    """As ``_reseal_batch``, over the received requests that hold sealed credentials only
    (a partial index holds just those)."""
    found = conn.execute(
        "SELECT id, sealed_headers FROM inbound_request"
        " WHERE sealed_headers IS NOT NULL AND id > ? ORDER BY id LIMIT ?",
        (after, limit),
    ).fetchall()
    updates = [
        (box.seal(box.open_uncached(sealed)), request_id)
        for request_id, sealed in found
        if box.needs_reseal(sealed)
    ]
    conn.executemany("UPDATE inbound_request SET sealed_headers = ? WHERE id = ?", updates)
    return len(updates), (found[-1][0] if found else None)
