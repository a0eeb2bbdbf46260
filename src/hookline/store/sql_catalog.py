"""Applications, event types and endpoints in SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hookline.errors import Conflict, NotFound, VersionConflict
from hookline.models import (
    OPERATIONAL_APP_ID,
    Application,
    DeliveryStatus,
    Endpoint,
    EventType,
    Page,
)
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store import sql_queue as queue
from hookline.store.base import (
    NAME_KEY,
    PageRequest,
)
from hookline.store.sql_base import (
    SqlBase,
    find_app,
    find_endpoint,
    page_of,
)
from hookline.store.sql_conn import Conn
from hookline.store.sql_fanout import emit_operational


class CatalogOps(SqlBase):
    # ----- applications -------------------------------------------------------------

    async def create_application(self, app: Application) -> Application:
        def op(conn: Conn) -> Application:
            if app.uid and find_app(conn, app.uid) is not None:
                raise Conflict(f"an application with uid {app.uid!r} already exists")
            conn.execute(
                f"INSERT INTO application ({rows.APP_COLS})"
                f" VALUES ({rows.marks_for(rows.APP_COLS)})",
                rows.app_params(app),
            )
            return app

        return await self._write(op)

    async def get_application(self, ref: str) -> Application:
        found = await self._read(lambda conn: find_app(conn, ref))
        if found is None:
            raise NotFound(f"application {ref!r} not found")
        return found

    async def list_applications(
        self, page: PageRequest, *, search: str | None = None, with_endpoints: bool = False
    ) -> Page[Application]:
        select = f"SELECT {rows.APP_COLS} FROM application"
        where, params = text_search(search, exact=("id", "uid"), within=("name", "uid"))
        if with_endpoints:  # the endpoint table's app_id index answers each probe
            where.append("EXISTS (SELECT 1 FROM endpoint e WHERE e.app_id = application.id)")
        return await self._read(
            lambda c: page_of(c, select, where, params, "id", page, rows.app_from_row, kind="app")
        )

    async def update_application(self, app: Application) -> Application:
        """Write ``app`` only if the row is still at the version it was read at
        (``VersionConflict`` otherwise); returns it at its new version."""

        def op(conn: Conn) -> Application:
            before = find_app(conn, app.id)
            if before is None or before.id != app.id:
                raise NotFound(f"application {app.id!r} not found")
            if before.version != app.version:
                raise VersionConflict(f"application {app.id!r} changed since it was read")
            if app.uid:
                other = find_app(conn, app.uid)
                if other is not None and other.id != app.id:
                    raise Conflict(f"an application with uid {app.uid!r} already exists")
            conn.execute(
                "UPDATE application SET uid=?, name=?, rate_limit=?, metadata=?, updated_at=?,"
                " version = version + 1 WHERE id=? AND version=?",
                (
                    app.uid,
                    app.name,
                    app.rate_limit,
                    rows.dump(app.metadata),
                    app.updated_at,
                    app.id,
                    app.version,
                ),
            )
            return replace(app, version=app.version + 1)

        return await self._write(op)

    async def delete_application(self, app_id: str) -> None:
        """A source's application goes only with its source (``delete_source``)."""

        def op(conn: Conn) -> None:
            owner = conn.execute("SELECT id FROM source WHERE app_id=?", (app_id,)).fetchone()
            if owner is not None:
                raise Conflict(
                    f"application {app_id!r} belongs to source {owner[0]!r}: delete the source"
                )
            if not delete_application_rows(conn, app_id):
                raise NotFound(f"application {app_id!r} not found")

        await self._write(op)

    # ----- event types --------------------------------------------------------------

    async def create_event_type(self, event_type: EventType) -> EventType:
        def op(conn: Conn) -> EventType:
            if conn.execute("SELECT 1 FROM event_type WHERE name=?", (event_type.name,)).fetchone():
                raise Conflict(f"event type {event_type.name!r} already exists")
            conn.execute(
                f"INSERT INTO event_type ({rows.EVENT_TYPE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows.event_type_params(event_type),
            )
            return event_type

        return await self._write(op)

    async def get_event_type(self, name: str) -> EventType:
        def op(conn: Conn) -> EventType | None:
            r = conn.execute(
                f"SELECT {rows.EVENT_TYPE_COLS} FROM event_type WHERE name=?", (name,)
            ).fetchone()
            return None if r is None else rows.event_type_from_row(r)

        found = await self._read(op)
        if found is None:
            raise NotFound(f"event type {name!r} not found")
        return found

    async def list_event_types(self, page: PageRequest, include_archived: bool) -> Page[EventType]:
        select = f"SELECT {rows.EVENT_TYPE_COLS} FROM event_type"
        where = [] if include_archived else ["archived = FALSE"]
        return await self._read(
            lambda c: page_of(
                c, select, where, [], "name", page, rows.event_type_from_row, kind=NAME_KEY
            )
        )

    async def update_event_type(self, event_type: EventType) -> EventType:
        def op(conn: Conn) -> EventType:
            _upsert_event_type(conn, event_type)
            return event_type

        return await self._write(op)

    async def delete_event_type(self, name: str) -> None:
        def op(conn: Conn) -> None:
            if conn.execute("DELETE FROM event_type WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"event type {name!r} not found")

        await self._write(op)

    async def all_event_types(self, include_archived: bool) -> list[EventType]:
        where = "" if include_archived else " WHERE archived = FALSE"
        return await self._read(
            lambda c: [
                rows.event_type_from_row(r)
                for r in c.execute(
                    f"SELECT {rows.EVENT_TYPE_COLS} FROM event_type{where} ORDER BY name"
                )
            ]
        )

    async def import_event_types(
        self, found: Sequence[EventType], archive_rest: bool, dry_run: bool, now_ms: int
    ) -> list[str]:
        def op(conn: Conn) -> list[str]:
            existing = {
                r[0]: rows.event_type_from_row(r)
                for r in conn.execute(f"SELECT {rows.EVENT_TYPE_COLS} FROM event_type")
            }
            writes: list[EventType] = []
            for new in found:
                old = existing.get(new.name)
                if old is not None:
                    new = replace(new, created_at=old.created_at, retry_schedule=old.retry_schedule)
                if old is None or _content(old) != _content(new):
                    writes.append(new)
            names = {e.name for e in found}
            if archive_rest:
                writes += [
                    replace(e, archived=True, updated_at=now_ms)
                    for e in existing.values()
                    if e.name not in names and not e.archived
                ]
            if not dry_run:
                for e in writes:
                    _upsert_event_type(conn, e)
            return [e.name for e in writes]

        return await (self._read(op) if dry_run else self._write(op))

    # ----- endpoints ----------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def op(conn: Conn) -> Endpoint:
            if endpoint.uid and find_endpoint(conn, endpoint.app_id, endpoint.uid, self._box):
                raise Conflict(f"an endpoint with uid {endpoint.uid!r} already exists")
            _insert_endpoint(conn, endpoint, self._box)
            queue.add_endpoint_state(conn, endpoint.id, endpoint.app_id)
            _endpoint_event(conn, "endpoint.created", endpoint)
            return endpoint

        return await self._write(op)

    async def get_endpoint(self, app_id: str, ref: str) -> Endpoint:
        found = await self._read(lambda conn: find_endpoint(conn, app_id, ref, self._box))
        if found is None:
            raise NotFound(f"endpoint {ref!r} not found")
        return found

    async def list_endpoints(
        self, app_id: str, page: PageRequest, *, search: str | None = None
    ) -> Page[Endpoint]:
        select = f"SELECT {rows.ENDPOINT_COLS} FROM endpoint"
        where, params = text_search(search, exact=("id", "uid"), within=("url", "description"))
        return await self._read(
            lambda c: page_of(
                c,
                select,
                ["app_id = ?", *where],
                [app_id, *params],
                "id",
                page,
                lambda r: rows.endpoint_from_row(r, self._box),
                kind="ep",
            )
        )

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Write ``endpoint`` only if the row is still at the version it was read at
        (``VersionConflict`` otherwise), so a stale read never undoes a concurrent change
        (a secret rotation, the worker's disable); returns it at its new version."""

        def op(conn: Conn) -> Endpoint:
            before = find_endpoint(conn, endpoint.app_id, endpoint.id, self._box)
            if before is None or before.id != endpoint.id:
                raise NotFound(f"endpoint {endpoint.id!r} not found")
            if before.version != endpoint.version:
                raise VersionConflict(f"endpoint {endpoint.id!r} changed since it was read")
            if endpoint.uid:
                other = find_endpoint(conn, endpoint.app_id, endpoint.uid, self._box)
                if other is not None and other.id != endpoint.id:
                    raise Conflict(f"an endpoint with uid {endpoint.uid!r} already exists")
            conn.execute(
                f"UPDATE endpoint SET {_ENDPOINT_SET}, version = version + 1"
                " WHERE id = ? AND version = ?",
                (*_changeable(endpoint, self._box), endpoint.id, endpoint.version),
            )
            saved = replace(endpoint, version=endpoint.version + 1)
            if saved.disabled and not before.disabled:
                queue.park_endpoint(conn, saved.id)
            elif before.disabled and not saved.disabled:
                queue.unpark_endpoint(conn, saved.id, saved.updated_at)
            elif saved.fifo != before.fifo:
                queue.refresh_due(conn, saved.id, saved.fifo)
            _endpoint_event(conn, "endpoint.updated", saved)
            return saved

        result = await self._write(op)
        self._work.set()
        return result

    async def delete_endpoint(self, app_id: str, endpoint_id: str) -> None:
        def op(conn: Conn) -> None:
            gone = find_endpoint(conn, app_id, endpoint_id, self._box)
            if gone is None:
                raise NotFound(f"endpoint {endpoint_id!r} not found")
            conn.execute("DELETE FROM endpoint WHERE id=?", (endpoint_id,))
            conn.execute("DELETE FROM endpoint_state WHERE endpoint_id=?", (endpoint_id,))
            conn.execute("DELETE FROM poll_consumer WHERE endpoint_id=?", (endpoint_id,))
            _endpoint_event(conn, "endpoint.deleted", gone)
            conn.execute(
                "UPDATE delivery SET next_attempt_at=NULL, status=? WHERE endpoint_id=?"
                " AND next_attempt_at IS NOT NULL",
                (int(DeliveryStatus.FAILED), endpoint_id),
            )

        await self._write(op)


def delete_application_rows(conn: Conn, app_id: str) -> bool:
    """Delete an application and everything under it; False if there was none."""
    for table in (
        "attempt",
        "delivery",
        "message",
        "endpoint",
        "endpoint_state",
        "background_task",
        "fanout",
        "poll_consumer",
    ):
        conn.execute(f"DELETE FROM {table} WHERE app_id=?", (app_id,))
    return bool(conn.execute("DELETE FROM application WHERE id=?", (app_id,)).rowcount)


_ENDPOINT_COLUMNS = [c.strip() for c in rows.ENDPOINT_COLS.split(",")]
_FIXED = {"id", "app_id", "version", "created_at"}  # never set by an update
_ENDPOINT_SET = ", ".join(f"{c} = ?" for c in _ENDPOINT_COLUMNS if c not in _FIXED)


def _changeable(endpoint: Endpoint, box: SecretBox) -> list[object]:
    """The endpoint's column values, in ``_ENDPOINT_SET``'s order."""
    params = rows.endpoint_params(endpoint, box)
    return [v for c, v in zip(_ENDPOINT_COLUMNS, params, strict=True) if c not in _FIXED]


def _insert_endpoint(conn: Conn, endpoint: Endpoint, box: SecretBox) -> None:
    conn.execute(
        f"INSERT INTO endpoint ({rows.ENDPOINT_COLS})"
        f" VALUES ({rows.marks_for(rows.ENDPOINT_COLS)})",
        rows.endpoint_params(endpoint, box),
    )


def _endpoint_event(conn: Conn, event_type: str, endpoint: Endpoint) -> None:
    """endpoint.created/updated/deleted, in the same transaction as the change."""
    if endpoint.app_id == OPERATIONAL_APP_ID:
        return
    app = find_app(conn, endpoint.app_id)
    emit_operational(
        conn,
        event_type,
        {
            "appId": endpoint.app_id,
            "appUid": None if app is None else app.uid,
            "endpointId": endpoint.id,
            "endpointUid": endpoint.uid,
        },
        endpoint.updated_at or endpoint.created_at,
    )


def text_search(
    search: str | None, *, exact: tuple[str, ...], within: tuple[str, ...]
) -> tuple[list[str], list[Any]]:
    """A listing's search box as one WHERE clause both dialects accept: equal to one of
    ``exact``, or a case-insensitive substring of one of ``within`` (``%`` and ``_`` in
    the search are literal)."""
    if not search:
        return [], []
    escaped = search.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    tests = [f"{col} = ?" for col in exact]
    tests += [f"LOWER({col}) LIKE ? ESCAPE '!'" for col in within]
    params: list[Any] = [search] * len(exact) + [f"%{escaped}%"] * len(within)
    return ["(" + " OR ".join(tests) + ")"], params


def _upsert_event_type(conn: Conn, e: EventType) -> None:
    conn.execute(
        f"INSERT INTO event_type ({rows.EVENT_TYPE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(name) DO UPDATE SET description=excluded.description,"
        " schemas=excluded.schemas, archived=excluded.archived,"
        " deprecated=excluded.deprecated, feature_flag=excluded.feature_flag,"
        " updated_at=excluded.updated_at, group_name=excluded.group_name,"
        " feature_flags=excluded.feature_flags, retry_schedule=excluded.retry_schedule",
        rows.event_type_params(e),
    )


def _content(e: EventType) -> tuple[Any, ...]:
    """What an import sets: an event type whose content is the same is not modified."""
    return (e.description, e.schemas, e.archived, e.deprecated, e.group_name, e.feature_flags)
