"""API keys and integration keys: ``access_token`` rows listed, renamed, rotated and
expired by id; the hash of a key is all the table holds."""

from __future__ import annotations

import json

from hookline.errors import NotFound
from hookline.models import AccessKind, AccessToken, Page
from hookline.store.records import PageRequest
from hookline.store.sql_access import COLUMNS, access_token
from hookline.store.sql_base import SqlBase, page_of
from hookline.store.sql_conn import Conn


class KeyOps(SqlBase):
    async def list_keys(
        self, kind: AccessKind, app_id: str | None, page: PageRequest
    ) -> Page[AccessToken]:
        """``app_id`` None: every key of the kind (server-wide and scoped alike)."""
        where, params = ["kind=?"], [kind.value]
        if app_id is not None:
            where.append("app_id=?")
            params.append(app_id)
        select = f"SELECT {COLUMNS} FROM access_token"
        prefix = "integ" if kind is AccessKind.INTEGRATION else "key"
        return await self._read(
            lambda c: page_of(c, select, where, params, "id", page, access_token, kind=prefix)
        )

    async def get_key(self, kind: AccessKind, key_id: str, app_id: str | None) -> AccessToken:
        def op(conn: Conn) -> AccessToken | None:
            sql = f"SELECT {COLUMNS} FROM access_token WHERE id=? AND kind=?"
            params: list[str] = [key_id, kind.value]
            if app_id is not None:
                sql += " AND app_id=?"
                params.append(app_id)
            r = conn.execute(sql, params).fetchone()
            return None if r is None else access_token(r)

        found = await self._read(op)
        if found is None:
            raise NotFound(f"key {key_id!r} not found")
        return found

    async def update_key(self, key: AccessToken) -> AccessToken:
        """Name, flags, expiry and (on rotation) the hash and hint; never the scope."""

        def op(conn: Conn) -> int:
            flags = None if key.feature_flags is None else json.dumps(key.feature_flags)
            return conn.execute(
                "UPDATE access_token SET name=?, feature_flags=?, expires_at=?, token_hash=?,"
                " hint=?, updated_at=? WHERE id=? AND kind=?",
                (
                    key.name,
                    flags,
                    key.expires_at,
                    key.token_hash,
                    key.hint,
                    key.updated_at,
                    key.id,
                    key.kind.value,
                ),
            ).rowcount

        if await self._write(op) != 1:
            raise NotFound(f"key {key.id!r} not found")
        return key

    async def delete_key(self, kind: AccessKind, key_id: str) -> None:
        def op(conn: Conn) -> int:
            return conn.execute(
                "DELETE FROM access_token WHERE id=? AND kind=?", (key_id, kind.value)
            ).rowcount

        if await self._write(op) != 1:
            raise NotFound(f"key {key_id!r} not found")

    async def touch_key(self, key_id: str, at_ms: int) -> None:
        """Records a key's last use; the caller throttles, so this is rare."""
        await self._write(
            lambda conn: conn.execute(
                "UPDATE access_token SET used_at=? WHERE id=?", (at_ms, key_id)
            )
        )
