"""The SQLite store: the default backend, one process, WAL mode, group commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from hookline import ids
from hookline.errors import Conflict, NotFound, StoreError, ValidationFailed
from hookline.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    Endpoint,
    EventType,
    Message,
    Page,
    TriggerType,
    subscription_matches,
)
from hookline.store import rows
from hookline.store import sqlite_queue as queue
from hookline.store.base import (
    AttemptFilter,
    MessageFilter,
    PageRequest,
    PublishOutcome,
    StoredResponse,
)
from hookline.store.sqlite_db import SqliteDatabase

T = TypeVar("T")
Conn = sqlite3.Connection
IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
IN_FLIGHT_TTL_MS = 120 * 1000  # a reservation older than this belongs to a dead request


def _page(
    conn: Conn,
    select: str,
    where: list[str],
    params: list[Any],
    key: str,
    page: PageRequest,
    convert: Callable[[Any], T],
) -> Page[T]:
    """Keyset pagination over a time-ordered key; the iterator is the last key seen."""
    where = list(where)
    params = list(params)
    op, order = ("<", "DESC") if page.reverse else (">", "ASC")
    if page.iterator:
        where.append(f"{key} {op} ?")
        params.append(page.iterator)
    sql = select + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY {key} {order} LIMIT ?"
    params.append(page.limit + 1)
    fetched = conn.execute(sql, params).fetchall()
    done = len(fetched) <= page.limit
    fetched = fetched[: page.limit]
    last = fetched[-1] if fetched else None
    return Page(
        data=[convert(r) for r in fetched],
        iterator=str(last[0]) if last is not None else page.iterator,  # key is column 0
        prev_iterator=None,
        done=done,
    )


def _unstorable(exc: Exception) -> ValidationFailed:
    """Input that JSON or UTF-8 cannot carry (lone surrogates, integers past 64 bits)."""
    return ValidationFailed(
        [{"loc": ["body"], "msg": f"value cannot be stored: {exc}", "type": "value_error"}]
    )


class SqliteStore:
    """Implements ``hookline.store.base.Store`` on one SQLite file."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self._db = SqliteDatabase(path, synchronous)
        self._work = asyncio.Event()

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def _read(self, op: Callable[[Conn], T]) -> T:
        try:
            return await self._db.read(op)
        except (UnicodeEncodeError, orjson.JSONEncodeError) as exc:
            raise _unstorable(exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    async def _write(self, op: Callable[[Conn], T]) -> T:
        try:
            return await self._db.write(op)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"conflicts with an existing record: {exc}") from exc
        except (UnicodeEncodeError, orjson.JSONEncodeError) as exc:
            raise _unstorable(exc) from exc
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    # ----- applications -------------------------------------------------------------

    async def create_application(self, app: Application) -> Application:
        def op(conn: Conn) -> Application:
            if app.uid and _find_app(conn, app.uid) is not None:
                raise Conflict(f"an application with uid {app.uid!r} already exists")
            conn.execute(
                f"INSERT INTO application ({rows.APP_COLS}) VALUES (?,?,?,?,?,?,?)",
                rows.app_params(app),
            )
            return app

        return await self._write(op)

    async def get_application(self, ref: str) -> Application:
        found = await self._read(lambda conn: _find_app(conn, ref))
        if found is None:
            raise NotFound(f"application {ref!r} not found")
        return found

    async def list_applications(self, page: PageRequest) -> Page[Application]:
        select = f"SELECT {rows.APP_COLS} FROM application"
        return await self._read(lambda c: _page(c, select, [], [], "id", page, rows.app_from_row))

    async def update_application(self, app: Application) -> Application:
        def op(conn: Conn) -> Application:
            if app.uid:
                other = _find_app(conn, app.uid)
                if other is not None and other.id != app.id:
                    raise Conflict(f"an application with uid {app.uid!r} already exists")
            conn.execute(
                "UPDATE application SET uid=?, name=?, rate_limit=?, metadata=?, updated_at=?"
                " WHERE id=?",
                (
                    app.uid,
                    app.name,
                    app.rate_limit,
                    rows.dump(app.metadata),
                    app.updated_at,
                    app.id,
                ),
            )
            return app

        return await self._write(op)

    async def delete_application(self, app_id: str) -> None:
        def op(conn: Conn) -> None:
            for table in ("attempt", "delivery", "message", "endpoint"):
                conn.execute(f"DELETE FROM {table} WHERE app_id=?", (app_id,))
            if conn.execute("DELETE FROM application WHERE id=?", (app_id,)).rowcount == 0:
                raise NotFound(f"application {app_id!r} not found")

        await self._write(op)

    # ----- event types --------------------------------------------------------------

    async def create_event_type(self, event_type: EventType) -> EventType:
        def op(conn: Conn) -> EventType:
            if conn.execute("SELECT 1 FROM event_type WHERE name=?", (event_type.name,)).fetchone():
                raise Conflict(f"event type {event_type.name!r} already exists")
            conn.execute(
                f"INSERT INTO event_type ({rows.EVENT_TYPE_COLS}) VALUES (?,?,?,?,?,?,?,?)",
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
        where = [] if include_archived else ["archived = 0"]
        return await self._read(
            lambda c: _page(c, select, where, [], "name", page, rows.event_type_from_row)
        )

    async def update_event_type(self, event_type: EventType) -> EventType:
        def op(conn: Conn) -> EventType:
            conn.execute(
                "INSERT INTO event_type (" + rows.EVENT_TYPE_COLS + ") VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET description=excluded.description,"
                " schemas=excluded.schemas, archived=excluded.archived,"
                " deprecated=excluded.deprecated, feature_flag=excluded.feature_flag,"
                " updated_at=excluded.updated_at",
                rows.event_type_params(event_type),
            )
            return event_type

        return await self._write(op)

    async def delete_event_type(self, name: str) -> None:
        def op(conn: Conn) -> None:
            if conn.execute("DELETE FROM event_type WHERE name=?", (name,)).rowcount == 0:
                raise NotFound(f"event type {name!r} not found")

        await self._write(op)

    # ----- endpoints ----------------------------------------------------------------

    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def op(conn: Conn) -> Endpoint:
            if endpoint.uid and _find_endpoint(conn, endpoint.app_id, endpoint.uid):
                raise Conflict(f"an endpoint with uid {endpoint.uid!r} already exists")
            conn.execute(
                f"INSERT INTO endpoint ({rows.ENDPOINT_COLS}) VALUES ({queue.marks(16)})",
                rows.endpoint_params(endpoint),
            )
            return endpoint

        return await self._write(op)

    async def get_endpoint(self, app_id: str, ref: str) -> Endpoint:
        found = await self._read(lambda conn: _find_endpoint(conn, app_id, ref))
        if found is None:
            raise NotFound(f"endpoint {ref!r} not found")
        return found

    async def list_endpoints(self, app_id: str, page: PageRequest) -> Page[Endpoint]:
        select = f"SELECT {rows.ENDPOINT_COLS} FROM endpoint"
        return await self._read(
            lambda c: _page(c, select, ["app_id = ?"], [app_id], "id", page, rows.endpoint_from_row)
        )

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        def op(conn: Conn) -> Endpoint:
            before = _find_endpoint(conn, endpoint.app_id, endpoint.id)
            if before is None:
                raise NotFound(f"endpoint {endpoint.id!r} not found")
            if endpoint.uid:
                other = _find_endpoint(conn, endpoint.app_id, endpoint.uid)
                if other is not None and other.id != endpoint.id:
                    raise Conflict(f"an endpoint with uid {endpoint.uid!r} already exists")
            conn.execute("DELETE FROM endpoint WHERE id=?", (endpoint.id,))
            conn.execute(
                f"INSERT INTO endpoint ({rows.ENDPOINT_COLS}) VALUES ({queue.marks(16)})",
                rows.endpoint_params(endpoint),
            )
            if endpoint.disabled and not before.disabled:
                queue.park_endpoint(conn, endpoint.id)
            elif before.disabled and not endpoint.disabled:
                queue.unpark_endpoint(conn, endpoint.id, endpoint.updated_at)
            return endpoint

        result = await self._write(op)
        self._work.set()
        return result

    async def delete_endpoint(self, app_id: str, endpoint_id: str) -> None:
        def op(conn: Conn) -> None:
            gone = conn.execute(
                "DELETE FROM endpoint WHERE id=? AND app_id=?", (endpoint_id, app_id)
            ).rowcount
            if not gone:
                raise NotFound(f"endpoint {endpoint_id!r} not found")
            conn.execute(
                "UPDATE delivery SET next_attempt_at=NULL, status=? WHERE endpoint_id=?"
                " AND next_attempt_at IS NOT NULL",
                (int(DeliveryStatus.FAILED), endpoint_id),
            )

        await self._write(op)

    # ----- messages -----------------------------------------------------------------

    async def publish(
        self, message: Message, now_ms: int, new_app: Application | None = None
    ) -> PublishOutcome:
        def op(conn: Conn) -> PublishOutcome:
            if new_app is not None:
                existing = _find_app(conn, new_app.uid) if new_app.uid else None
                if existing is None:
                    conn.execute(
                        f"INSERT INTO application ({rows.APP_COLS}) VALUES (?,?,?,?,?,?,?)",
                        rows.app_params(new_app),
                    )
                message.app_id = new_app.id if existing is None else existing.id
            if message.event_id is not None:
                r = conn.execute(
                    f"SELECT {rows.MESSAGE_COLS} FROM message WHERE app_id=? AND event_id=?",
                    (message.app_id, message.event_id),
                ).fetchone()
                if r is not None:
                    return PublishOutcome(rows.message_from_row(r), created=False, deliveries=0)
            conn.execute(
                f"INSERT INTO message ({rows.MESSAGE_COLS}) VALUES (?,?,?,?,?,?,?,?)",
                rows.message_params(message),
            )
            targets = [
                r[0]
                for r in conn.execute(
                    "SELECT id, event_types, channels FROM endpoint WHERE app_id=? AND disabled=0",
                    (message.app_id,),
                )
                if subscription_matches(
                    rows.load(r[1]), rows.load(r[2]), message.event_type, message.channels
                )
            ]
            scheduled = int(DeliveryStatus.PENDING), int(TriggerType.SCHEDULED)
            conn.executemany(
                "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts,"
                " next_attempt_at, trigger, lease_owner, created_at, updated_at)"
                " VALUES (?,?,?,?,?,0,?,?,NULL,?,?)",
                [
                    (
                        ids.new_id("dlv", now_ms),
                        message.id,
                        ep,
                        message.app_id,
                        scheduled[0],
                        now_ms,
                        scheduled[1],
                        now_ms,
                        now_ms,
                    )
                    for ep in targets
                ],
            )
            return PublishOutcome(message, created=True, deliveries=len(targets))

        outcome = await self._write(op)
        if outcome.deliveries:
            self._work.set()
        return outcome

    async def get_message(self, app_id: str, msg_id: str) -> Message:
        def op(conn: Conn) -> Message | None:
            r = conn.execute(
                f"SELECT {rows.MESSAGE_COLS} FROM message WHERE app_id=? AND (id=? OR event_id=?)",
                (app_id, msg_id, msg_id),
            ).fetchone()
            return None if r is None else rows.message_from_row(r)

        found = await self._read(op)
        if found is None:
            raise NotFound(f"message {msg_id!r} not found")
        return found

    async def list_messages(
        self, app_id: str, flt: MessageFilter, page: PageRequest
    ) -> Page[Message]:
        where: list[str] = ["app_id = ?"]
        params: list[Any] = [app_id]
        _time_and_type_filters(
            flt.event_types, flt.channel, flt.before_ms, flt.after_ms, where, params, ""
        )
        select = f"SELECT {rows.MESSAGE_COLS} FROM message"
        return await self._read(
            lambda c: _page(c, select, where, params, "id", page, rows.message_from_row)
        )

    async def resend(self, app_id: str, msg_id: str, endpoint_id: str, now_ms: int) -> Delivery:
        delivery = Delivery(
            id=ids.new_id("dlv", now_ms),
            msg_id=msg_id,
            endpoint_id=endpoint_id,
            app_id=app_id,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now_ms,
            trigger=TriggerType.MANUAL,
            created_at=now_ms,
            updated_at=now_ms,
        )

        def op(conn: Conn) -> Delivery:
            conn.execute(
                f"INSERT INTO delivery ({rows.DELIVERY_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    delivery.id,
                    msg_id,
                    endpoint_id,
                    app_id,
                    int(delivery.status),
                    0,
                    now_ms,
                    int(delivery.trigger),
                    now_ms,
                    now_ms,
                ),
            )
            return delivery

        result = await self._write(op)
        self._work.set()
        return result

    # ----- delivery engine ----------------------------------------------------------

    async def claim_due(
        self, owner: str, limit: int, now_ms: int, lease_ms: int
    ) -> list[DeliveryTask]:
        return await self._write(lambda conn: queue.claim(conn, owner, limit, now_ms, lease_ms))

    async def record_results(
        self, owner: str, results: Sequence[DeliveryResult], now_ms: int
    ) -> None:
        await self._write(lambda conn: queue.record(conn, owner, results, now_ms))

    async def release(self, owner: str) -> None:
        def op(conn: Conn) -> None:
            conn.execute(
                "UPDATE delivery SET status=?, lease_owner=NULL WHERE lease_owner=?",
                (int(DeliveryStatus.PENDING), owner),
            )

        await self._write(op)
        self._work.set()

    async def wait_for_work(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._work.wait(), timeout)
        except TimeoutError:
            pass
        self._work.clear()

    async def next_due_at(self) -> int | None:
        def op(conn: Conn) -> int | None:
            r = conn.execute("SELECT MIN(next_attempt_at) FROM delivery").fetchone()
            return None if r is None else r[0]

        return await self._read(op)

    # ----- attempts -----------------------------------------------------------------

    async def list_attempts(
        self, app_id: str, flt: AttemptFilter, page: PageRequest, msg_id: str | None = None
    ) -> Page[Attempt]:
        where: list[str] = ["a.app_id = ?"]
        params: list[Any] = [app_id]
        if msg_id is not None:
            where.append("a.msg_id = ?")
            params.append(msg_id)
        if flt.endpoint_id is not None:
            where.append("a.endpoint_id = ?")
            params.append(flt.endpoint_id)
        if flt.status is not None:
            where.append("a.status = ?")
            params.append(int(flt.status))
        select = "SELECT " + ", ".join("a." + c.strip() for c in rows.ATTEMPT_COLS.split(","))
        select += " FROM attempt a"
        if flt.event_types or flt.channel:
            select += " JOIN message m ON m.id = a.msg_id"
            _time_and_type_filters(flt.event_types, flt.channel, None, None, where, params, "m.")
        if flt.before_ms is not None:
            where.append("a.created_at < ?")
            params.append(flt.before_ms)
        if flt.after_ms is not None:
            where.append("a.created_at > ?")
            params.append(flt.after_ms)
        return await self._read(
            lambda c: _page(c, select, where, params, "a.id", page, rows.attempt_from_row)
        )

    async def get_attempt(self, app_id: str, msg_id: str, attempt_id: str) -> Attempt:
        def op(conn: Conn) -> Attempt | None:
            r = conn.execute(
                f"SELECT {rows.ATTEMPT_COLS} FROM attempt WHERE id=? AND app_id=? AND msg_id=?",
                (attempt_id, app_id, msg_id),
            ).fetchone()
            return None if r is None else rows.attempt_from_row(r)

        found = await self._read(op)
        if found is None:
            raise NotFound(f"attempt {attempt_id!r} not found")
        return found

    async def list_deliveries(self, app_id: str, msg_id: str) -> list[Delivery]:
        def op(conn: Conn) -> list[Delivery]:
            return [
                rows.delivery_from_row(r)
                for r in conn.execute(
                    f"SELECT {rows.DELIVERY_COLS} FROM delivery WHERE app_id=? AND msg_id=?"
                    " ORDER BY id",
                    (app_id, msg_id),
                )
            ]

        return await self._read(op)

    # ----- idempotency --------------------------------------------------------------

    async def begin_idempotent(self, key: str, now_ms: int) -> StoredResponse | None:
        def op(conn: Conn) -> StoredResponse | None:
            r = conn.execute(
                "SELECT status, body, created_at FROM idempotency_key WHERE key=?", (key,)
            ).fetchone()
            if r is not None and r[2] > now_ms - IDEMPOTENCY_TTL_MS:
                abandoned = r[0] == 0 and r[2] < now_ms - IN_FLIGHT_TTL_MS
                if not abandoned:
                    return StoredResponse(status=r[0], body=bytes(r[1]))
            conn.execute(
                "INSERT OR REPLACE INTO idempotency_key (key, status, body, created_at)"
                " VALUES (?, 0, x'', ?)",
                (key, now_ms),
            )
            return None

        return await self._write(op)

    async def forget_idempotent(self, key: str) -> None:
        await self._write(
            lambda conn: conn.execute("DELETE FROM idempotency_key WHERE key=?", (key,))
        )

    async def get_idempotent_response(self, key: str, now_ms: int) -> StoredResponse | None:
        def op(conn: Conn) -> StoredResponse | None:
            r = conn.execute(
                "SELECT status, body FROM idempotency_key WHERE key=? AND created_at > ?",
                (key, now_ms - IDEMPOTENCY_TTL_MS),
            ).fetchone()
            return None if r is None else StoredResponse(status=r[0], body=bytes(r[1]))

        return await self._read(op)

    async def save_idempotent_response(
        self, key: str, response: StoredResponse, now_ms: int
    ) -> None:
        def op(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO idempotency_key (key, status, body, created_at) VALUES (?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET status=excluded.status, body=excluded.body,"
                " created_at=excluded.created_at",
                (key, response.status, response.body, now_ms),
            )

        await self._write(op)


def _find_app(conn: Conn, ref: str) -> Application | None:
    r = conn.execute(
        f"SELECT {rows.APP_COLS} FROM application WHERE id=? OR uid=?", (ref, ref)
    ).fetchone()
    return None if r is None else rows.app_from_row(r)


def _find_endpoint(conn: Conn, app_id: str, ref: str) -> Endpoint | None:
    r = conn.execute(
        f"SELECT {rows.ENDPOINT_COLS} FROM endpoint WHERE app_id=? AND (id=? OR uid=?)",
        (app_id, ref, ref),
    ).fetchone()
    return None if r is None else rows.endpoint_from_row(r)


def _time_and_type_filters(
    event_types: Sequence[str] | None,
    channel: str | None,
    before_ms: int | None,
    after_ms: int | None,
    where: list[str],
    params: list[Any],
    prefix: str,
) -> None:
    if event_types:
        where.append(f"{prefix}event_type IN ({queue.marks(len(event_types))})")
        params.extend(event_types)
    if channel:
        where.append(f"EXISTS (SELECT 1 FROM json_each({prefix}channels) WHERE value = ?)")
        params.append(channel)
    if before_ms is not None:
        where.append(f"{prefix}created_at < ?")
        params.append(before_ms)
    if after_ms is not None:
        where.append(f"{prefix}created_at > ?")
        params.append(after_ms)
