"""Dashboard sessions and consumer-portal credentials: stored as hashes, found by hash,
a magic link redeemed once, a grant's rows expired together."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hookline.models import PORTAL_KINDS, AccessKind, AccessToken
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn

COLUMNS = (
    "id, kind, token_hash, grant_id, app_id, capabilities, read_only, label,"
    " created_at, expires_at, used_at, name, hint, feature_flags, updated_at"
)
MARKS = ",".join("?" * len(COLUMNS.split(",")))


class AccessOps(SqlBase):
    async def create_access_tokens(self, tokens: Sequence[AccessToken]) -> None:
        def op(conn: Conn) -> None:
            conn.executemany(
                f"INSERT INTO access_token ({COLUMNS}) VALUES ({MARKS})",
                [
                    (
                        t.id,
                        t.kind.value,
                        t.token_hash,
                        t.grant_id,
                        t.app_id,
                        json.dumps(t.capabilities),
                        t.read_only,
                        t.label,
                        t.created_at,
                        t.expires_at,
                        t.used_at,
                        t.name,
                        t.hint,
                        None if t.feature_flags is None else json.dumps(t.feature_flags),
                        t.updated_at,
                    )
                    for t in tokens
                ],
            )

        await self._write(op)

    async def find_access_token(
        self, token_hash: str, kind: AccessKind, now_ms: int
    ) -> AccessToken | None:
        def op(conn: Conn) -> AccessToken | None:
            r = conn.execute(
                f"SELECT {COLUMNS} FROM access_token"
                " WHERE token_hash=? AND kind=? AND expires_at > ?",
                (token_hash, kind.value, now_ms),
            ).fetchone()
            return None if r is None else access_token(r)

        return await self._read(op)

    async def redeem_access_token(
        self, token_hash: str, kind: AccessKind, now_ms: int
    ) -> AccessToken | None:
        def op(conn: Conn) -> AccessToken | None:
            # one UPDATE decides: of two concurrent redemptions only one changes the row
            changed = conn.execute(
                "UPDATE access_token SET used_at=? WHERE token_hash=? AND kind=?"
                " AND used_at IS NULL AND expires_at > ?",
                (now_ms, token_hash, kind.value, now_ms),
            ).rowcount
            if changed != 1:
                return None
            r = conn.execute(
                f"SELECT {COLUMNS} FROM access_token WHERE token_hash=?", (token_hash,)
            ).fetchone()
            return None if r is None else access_token(r)

        return await self._write(op)

    async def delete_access_token(self, token_hash: str) -> None:
        await self._write(
            lambda conn: conn.execute("DELETE FROM access_token WHERE token_hash=?", (token_hash,))
        )

    async def expire_access_tokens(
        self, app_id: str, at_ms: int, labels: Sequence[str] | None = None
    ) -> int:
        def op(conn: Conn) -> int:
            # portal credentials only: the application's API and integration keys stay
            kinds = ",".join(f"'{k.value}'" for k in PORTAL_KINDS)
            sql = (
                "UPDATE access_token SET expires_at=? WHERE app_id=? AND expires_at > ?"
                f" AND kind IN ({kinds})"
            )
            params: list[Any] = [at_ms, app_id, at_ms]
            if labels:
                sql += f" AND label IN ({','.join('?' * len(labels))})"
                params.extend(labels)
            return conn.execute(sql, params).rowcount

        return await self._write(op)

    async def purge_access_tokens(self, now_ms: int, limit: int) -> int:
        def op(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM access_token WHERE id IN (SELECT id FROM access_token"
                " WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
                (now_ms, limit),
            ).rowcount

        return await self._write(op)


def access_token(r: Sequence[Any]) -> AccessToken:
    return AccessToken(
        id=r[0],
        kind=AccessKind(r[1]),
        token_hash=r[2],
        grant_id=r[3],
        app_id=r[4],
        capabilities=list(json.loads(r[5])),
        read_only=bool(r[6]),
        label=r[7],
        created_at=r[8],
        expires_at=r[9],
        used_at=r[10],
        name=r[11],
        hint=r[12],
        feature_flags=None if r[13] is None else list(json.loads(r[13])),
        updated_at=r[14],
    )
