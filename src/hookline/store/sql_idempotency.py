"""Idempotency-Key records in SQLite: reserve, save, replay, expire; and a publish's
key, looked up and stored in the publish transaction."""

from __future__ import annotations

from collections.abc import Callable

from hookline.errors import NotFound
from hookline.models import Message
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store.base import (
    IDEMPOTENCY_TTL_MS,
    MessageRef,
    PublishKey,
    PublishOutcome,
    StoredResponse,
)
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn, serialize_on

IN_FLIGHT_TTL_MS = 120 * 1000  # a reservation older than this belongs to a dead request


class IdempotencyOps(SqlBase):
    async def begin_idempotent(self, key: str, now_ms: int) -> StoredResponse | None:
        def op(conn: Conn) -> StoredResponse | None:
            r = conn.execute(
                "SELECT status, body, created_at FROM idempotency_key WHERE key=?", (key,)
            ).fetchone()
            if r is not None and r[2] > now_ms - IDEMPOTENCY_TTL_MS:
                abandoned = r[0] == 0 and r[2] < now_ms - IN_FLIGHT_TTL_MS
                if not abandoned:
                    return stored_response(r[0], r[1], self._box)
            conn.execute(
                "INSERT INTO idempotency_key (key, status, body, created_at) VALUES (?, 0, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
                " body = excluded.body, created_at = excluded.created_at",
                (key, b"", now_ms),
            )
            return None

        return await self._write(op)

    async def forget_idempotent(self, key: str) -> None:
        await self._write(
            lambda conn: conn.execute("DELETE FROM idempotency_key WHERE key=?", (key,))
        )

    async def expire_idempotency_keys(self, now_ms: int, limit: int) -> int:
        def op(conn: Conn) -> int:
            # oldest first along ix_idempotency_key_created: an index range, never a scan
            return conn.execute(
                "DELETE FROM idempotency_key WHERE key IN (SELECT key FROM idempotency_key"
                " WHERE created_at <= ? ORDER BY created_at LIMIT ?)",
                (now_ms - IDEMPOTENCY_TTL_MS, limit),
            ).rowcount

        return await self._write(op)

    async def get_idempotent_response(self, key: str, now_ms: int) -> StoredResponse | None:
        def op(conn: Conn) -> StoredResponse | None:
            r = conn.execute(
                "SELECT status, body FROM idempotency_key WHERE key=? AND created_at > ?",
                (key, now_ms - IDEMPOTENCY_TTL_MS),
            ).fetchone()
            return None if r is None else stored_response(r[0], r[1], self._box)

        return await self._read(op)

    async def save_idempotent_response(
        self, key: str, response: StoredResponse, now_ms: int
    ) -> None:
        await self._write(lambda conn: keep_response(conn, key, response, now_ms, self._box))


def answered(conn: Conn, key: str, now_ms: int, box: SecretBox) -> StoredResponse | None:
    """The answer ``key`` holds within its window; a bare reservation is no answer."""
    r = conn.execute(
        "SELECT status, body FROM idempotency_key WHERE key=? AND created_at > ?",
        (key, now_ms - IDEMPOTENCY_TTL_MS),
    ).fetchone()
    return None if r is None or r[0] == 0 else stored_response(r[0], r[1], box)


def keep_response(
    conn: Conn, key: str, response: StoredResponse, now_ms: int, box: SecretBox
) -> None:
    conn.execute(
        "INSERT INTO idempotency_key (key, status, body, created_at) VALUES (?,?,?,?)"
        " ON CONFLICT(key) DO UPDATE SET status=excluded.status, body=excluded.body,"
        " created_at=excluded.created_at",
        (key, response.status, idempotent_body(response, box), now_ms),
    )


# A message reference is kept in the body column behind a NUL byte, which no JSON body
# can start with; the publish transaction can write the same bytes itself. Other bodies
# are sealed like endpoint secrets: a secret rotation's response carries the new key.
_MESSAGE_REF = b"\0msg\0"
_SEALED = b"\0box\0"


def idempotent_body(response: StoredResponse, box: SecretBox) -> bytes:
    ref = response.message
    if ref is None:
        return _SEALED + box.seal(response.body.decode("latin-1")).encode("ascii")
    fields = (ref.app_id, ref.msg_id, "1" if ref.with_content else "0")
    return _MESSAGE_REF + "\0".join(fields).encode()


def stored_response(status: int, body: bytes, box: SecretBox) -> StoredResponse:
    body = bytes(body)
    if body.startswith(_SEALED):
        plain = box.open(body[len(_SEALED) :].decode("ascii")).encode("latin-1")
        return StoredResponse(status=status, body=plain)
    if not body.startswith(_MESSAGE_REF):
        return StoredResponse(status=status, body=body)
    app_id, msg_id, with_content = body[len(_MESSAGE_REF) :].decode().split("\0")
    return StoredResponse(status=status, message=MessageRef(app_id, msg_id, with_content == "1"))


def keyed_publish(
    conn: Conn,
    publish: Callable[[Conn], PublishOutcome],
    message: Message,
    key: PublishKey,
    now_ms: int,
    box: SecretBox,
) -> PublishOutcome:
    """The key is looked up first and stored with the message, in one transaction:
    concurrent repeats serialise on the key, and a crash cannot split them."""
    serialize_on(conn, "publish-key:" + key.key)
    stored = answered(conn, key.key, now_ms, box)
    if stored is not None:
        return _replayed(conn, message, stored)
    outcome = publish(conn)
    if outcome.created:
        ref = MessageRef(outcome.message.app_id, outcome.message.id, key.with_content)
        keep_response(conn, key.key, StoredResponse(202, message=ref), now_ms, box)
    return outcome


def _replayed(conn: Conn, message: Message, stored: StoredResponse) -> PublishOutcome:
    """A repeated key's outcome: nothing written, the stored answer, the message as now
    (an answer kept whole, as keys stored before publishes kept their own, as it is)."""
    ref = stored.message
    if ref is None:
        return PublishOutcome(message, created=False, deliveries=0, replayed=stored)
    r = conn.execute(
        f"SELECT {rows.MESSAGE_COLS} FROM message WHERE id=? AND app_id=?",
        (ref.msg_id, ref.app_id),
    ).fetchone()
    if r is None:  # deleted with its application since
        raise NotFound(f"message {ref.msg_id!r} not found")
    return PublishOutcome(rows.message_from_row(r), created=False, deliveries=0, replayed=stored)
