"""Inbound sources in SQLite: each source and its application are written together.

The provider config (it holds the provider's secrets) and the token are sealed with the
store's ``SecretBox``; the token is found by its hash, which is all a lookup needs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hookline.errors import Conflict, NotFound, VersionConflict
from hookline.models import Application, Page
from hookline.signing.at_rest import SecretBox
from hookline.sources import Source, token_hash
from hookline.store import rows
from hookline.store.base import PageRequest
from hookline.store.sql_base import SqlBase, find_app, page_of
from hookline.store.sql_catalog import delete_application_rows
from hookline.store.sql_conn import Conn

SOURCE_COLS = (
    "id, uid, name, provider, config, token, app_id, dedup_window_ms, metadata, version, "
    "created_at, updated_at"
)
_SELECT = f"SELECT {SOURCE_COLS} FROM source"


def source_from_row(r: rows.Row, box: SecretBox) -> Source:
    return Source(
        id=r[0],
        uid=r[1],
        name=r[2],
        provider=r[3],
        config=rows.load(box.open(r[4])),
        token=box.open(r[5]),
        app_id=r[6],
        dedup_window_ms=r[7],
        metadata=rows.load(r[8]),
        version=r[9],
        created_at=r[10],
        updated_at=r[11],
    )


def _sealed(source: Source, box: SecretBox) -> dict[str, Any]:
    """The changeable columns of ``source``, secrets sealed."""
    return {
        "uid": source.uid,
        "name": source.name,
        "provider": source.provider,
        "config": box.seal(rows.dump(source.config)),
        "token_hash": token_hash(source.token),
        "token": box.seal(source.token),
        "dedup_window_ms": source.dedup_window_ms,
        "metadata": rows.dump(source.metadata),
        "updated_at": source.updated_at,
    }


def find_source(conn: Conn, ref: str, box: SecretBox) -> Source | None:
    r = conn.execute(f"{_SELECT} WHERE id=? OR uid=?", (ref, ref)).fetchone()
    return None if r is None else source_from_row(r, box)


def _uid_taken(conn: Conn, uid: str | None, source_id: str) -> None:
    if not uid:
        return
    other = conn.execute("SELECT id FROM source WHERE uid=? OR id=?", (uid, uid)).fetchone()
    if other is not None and other[0] != source_id:
        raise Conflict(f"a source with uid {uid!r} already exists")


class SourceOps(SqlBase):
    async def create_source(self, source: Source, app: Application) -> Source:
        def op(conn: Conn) -> Source:
            _uid_taken(conn, source.uid, source.id)
            if app.uid and find_app(conn, app.uid) is not None:
                raise Conflict(f"an application with uid {app.uid!r} already exists")
            conn.execute(
                f"INSERT INTO application ({rows.APP_COLS})"
                f" VALUES ({rows.marks_for(rows.APP_COLS)})",
                rows.app_params(app),
            )
            cols = {
                "id": source.id,
                "app_id": source.app_id,
                "version": source.version,
                "created_at": source.created_at,
                **_sealed(source, self._box),
            }
            names = ", ".join(cols)
            conn.execute(
                f"INSERT INTO source ({names}) VALUES ({rows.marks_for(names)})",
                tuple(cols.values()),
            )
            return source

        if source.app_id != app.id:
            raise ValueError("a source is created with its own application")
        return await self._write(op)

    async def get_source(self, ref: str) -> Source:
        found = await self._read(lambda conn: find_source(conn, ref, self._box))
        if found is None:
            raise NotFound(f"source {ref!r} not found")
        return found

    async def source_by_token(self, token_hash: str) -> Source | None:
        def op(conn: Conn) -> Source | None:
            r = conn.execute(f"{_SELECT} WHERE token_hash=?", (token_hash,)).fetchone()
            return None if r is None else source_from_row(r, self._box)

        return await self._read(op)

    async def list_sources(self, page: PageRequest) -> Page[Source]:
        return await self._read(
            lambda c: page_of(
                c, _SELECT, [], [], "id", page, lambda r: source_from_row(r, self._box), kind="src"
            )
        )

    async def update_source(self, source: Source) -> Source:
        """Write ``source`` only while the row is at the version it was read at
        (``VersionConflict`` otherwise); the token's hash follows the token, and the
        application's name follows the source's."""

        def op(conn: Conn) -> Source:
            row = conn.execute("SELECT version FROM source WHERE id=?", (source.id,)).fetchone()
            if row is None:
                raise NotFound(f"source {source.id!r} not found")
            if row[0] != source.version:
                raise VersionConflict(f"source {source.id!r} changed since it was read")
            _uid_taken(conn, source.uid, source.id)
            cols = _sealed(source, self._box)
            conn.execute(
                f"UPDATE source SET {', '.join(f'{c} = ?' for c in cols)},"
                " version = version + 1 WHERE id = ? AND version = ?",
                (*cols.values(), source.id, source.version),
            )
            conn.execute(
                "UPDATE application SET name = ?, updated_at = ?, version = version + 1"
                " WHERE id = ? AND name != ?",
                (source.name, source.updated_at, source.app_id, source.name),
            )
            return replace(source, version=source.version + 1)

        return await self._write(op)

    async def delete_source(self, source_id: str) -> None:
        def op(conn: Conn) -> None:
            row = conn.execute("SELECT app_id FROM source WHERE id=?", (source_id,)).fetchone()
            if row is None:
                raise NotFound(f"source {source_id!r} not found")
            conn.execute("DELETE FROM inbound_dedup WHERE source_id=?", (source_id,))
            conn.execute("DELETE FROM inbound_request WHERE source_id=?", (source_id,))
            conn.execute("DELETE FROM source WHERE id=?", (source_id,))
            delete_application_rows(conn, row[0])

        await self._write(op)


def resealed_source(config: str, token: str, box: SecretBox) -> tuple[str, str] | None:
    """The ``config`` and ``token`` columns under the current key, or None if they are."""
    if not box.needs_reseal(config) and not box.needs_reseal(token):
        return None
    return box.seal(box.open(config)), box.seal(box.open(token))
