"""Messages and attempts: publish (with its fan-out), reads, resends."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hookline import filters, ids
from hookline.errors import NotFound
from hookline.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Message,
    Page,
    TriggerType,
    subscription_matches,
)
from hookline.signing.at_rest import SecretBox
from hookline.sources import Verdict
from hookline.store import rows
from hookline.store import sql_fanout as fanout
from hookline.store import sql_queue as queue
from hookline.store.base import (
    AttemptFilter,
    MessageFilter,
    PageRequest,
    PublishKey,
    PublishOutcome,
)
from hookline.store.sql_attempted import tag_filter
from hookline.store.sql_base import (
    SqlBase,
    page_of,
    time_and_type_filters,
)
from hookline.store.sql_conn import Conn, Database, serialize_on
from hookline.store.sql_idempotency import keyed_publish
from hookline.store.sql_inbound import mark_routed_op
from hookline.store.wakeup import PeerChannel


def app_by_uid(conn: Conn, uid: str) -> Application | None:
    r = conn.execute(f"SELECT {rows.APP_COLS} FROM application WHERE uid=?", (uid,)).fetchone()
    return None if r is None else rows.app_from_row(r)


FILTER_CACHE_APPS = 4096


class MessageOps(SqlBase):
    def __init__(self, db: Database, *, box: SecretBox, peers: PeerChannel | None) -> None:
        super().__init__(db, box=box, peers=peers)
        # per application (id or uid): its filtered endpoints as the last publish found them
        self._filtered: dict[str, list[fanout.FilterSpec]] = {}

    # ----- messages -----------------------------------------------------------------

    async def publish(
        self,
        message: Message,
        now_ms: int,
        new_app: Application | None = None,
        idempotency: PublishKey | None = None,
    ) -> PublishOutcome:
        return await self._publish(message, now_ms, new_app, idempotency=idempotency)

    async def publish_to_endpoint(
        self, message: Message, endpoint_id: str, now_ms: int
    ) -> PublishOutcome:
        def op(conn: Conn) -> PublishOutcome:
            fanout.enqueue_for_endpoint(conn, message, endpoint_id, now_ms)
            return PublishOutcome(message, created=True, deliveries=1)

        outcome = await self._write(op, own_locks=True)
        self._work.set()
        return outcome

    async def publish_routed(
        self, request_id: str, message: Message, now_ms: int, verdict: Verdict | None = None
    ) -> PublishOutcome:
        def mark(conn: Conn, outcome: PublishOutcome) -> None:
            mark_routed_op(conn, request_id, now_ms, outcome.message.id, verdict, None)

        return await self._publish(message, now_ms, None, mark)

    async def _publish(
        self,
        message: Message,
        now_ms: int,
        new_app: Application | None,
        then: Callable[[Conn, PublishOutcome], None] | None = None,
        idempotency: PublishKey | None = None,
    ) -> PublishOutcome:
        """Payload filters run before the write, in a thread: a slow one holds up neither
        the event loop nor the single writer (every application's writes).

        Which filters to run comes from what the previous publish to the application
        found, so an application without filters pays nothing; fan-out checks that every
        filter it meets was evaluated, and if not (an endpoint changed meanwhile) writes
        nothing and says which, and the publish evaluates them and tries again.
        """
        key = new_app.uid if new_app is not None and new_app.uid else message.app_id
        specs = self._filtered.get(key, [])
        for attempt in range(3):
            prejudged = fanout.Prejudged(
                await self._evaluate_ahead(message, specs), evaluate_missing=attempt == 2
            )
            try:
                op = partial(
                    self._publish_op,
                    message=message,
                    new_app=new_app,
                    now_ms=now_ms,
                    prejudged=prejudged,
                    then=then,
                )
                if idempotency is not None:
                    op = partial(
                        keyed_publish,
                        publish=op,
                        message=message,
                        key=idempotency,
                        now_ms=now_ms,
                        box=self._box,
                    )
                # below SERIALIZABLE: publishes to one endpoint must not abort each other
                # for touching its due time; the checks before inserts serialise on keys
                outcome = await self._write(op, own_locks=True)
            except fanout.MissingVerdicts as exc:
                specs = exc.filtered
                self._remember_filters(key, specs)
                continue
            if outcome.created:
                self._remember_filters(key, prejudged.filtered)
            if outcome.background:
                self._fanout_work.set()
            if outcome.deliveries or outcome.background:
                self._work.set()  # the worker's wake-up wakes the fan-out too
            return outcome
        raise AssertionError("the last attempt evaluates missing filters itself")

    @staticmethod
    def _publish_op(
        conn: Conn,
        message: Message,
        new_app: Application | None,
        prejudged: fanout.Prejudged,
        now_ms: int,
        then: Callable[[Conn, PublishOutcome], None] | None = None,
    ) -> PublishOutcome:
        outcome = MessageOps._publish_rows(conn, message, new_app, prejudged, now_ms)
        if then is not None:
            then(conn, outcome)
        return outcome

    @staticmethod
    def _publish_rows(
        conn: Conn,
        message: Message,
        new_app: Application | None,
        prejudged: fanout.Prejudged,
        now_ms: int,
    ) -> PublishOutcome:
        if new_app is not None:
            # By uid only: an application that a concurrent first publish created.
            if new_app.uid:
                serialize_on(conn, "app-uid:" + new_app.uid)
            existing = app_by_uid(conn, new_app.uid) if new_app.uid else None
            if existing is None:
                conn.execute(
                    f"INSERT INTO application ({rows.APP_COLS})"
                    f" VALUES ({rows.marks_for(rows.APP_COLS)})",
                    rows.app_params(new_app),
                )
            message.app_id = new_app.id if existing is None else existing.id
        if message.event_id is not None:
            serialize_on(conn, f"event-id:{message.app_id}:{message.event_id}")
            r = conn.execute(
                f"SELECT {rows.MESSAGE_COLS} FROM message WHERE app_id=? AND event_id=?",
                (message.app_id, message.event_id),
            ).fetchone()
            if r is not None:
                return PublishOutcome(rows.message_from_row(r), created=False, deliveries=0)
        enqueued = fanout.enqueue_message(conn, message, now_ms, prejudged)
        return PublishOutcome(
            message, created=True, deliveries=enqueued.deliveries, background=enqueued.background
        )

    async def _evaluate_ahead(
        self, message: Message, specs: list[fanout.FilterSpec]
    ) -> dict[str, bool]:
        wanted = {
            expression
            for types, channels, expression in specs
            if subscription_matches(types, channels, message.event_type, message.channels)
        }
        if not wanted:
            return {}
        return await self._off_writer(partial(filters.verdicts, sorted(wanted), message.payload))

    def _remember_filters(self, key: str, specs: list[fanout.FilterSpec]) -> None:
        self._filtered.pop(key, None)
        self._filtered[key] = specs
        while len(self._filtered) > FILTER_CACHE_APPS:
            del self._filtered[next(iter(self._filtered))]  # the least recently published

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
        time_and_type_filters(
            flt.event_types,
            flt.channel,
            flt.before_ms,
            flt.after_ms,
            where,
            params,
            "",
            self._db.dialect,
        )
        tag_filter(flt.tag, where, params, "", self._db.dialect)
        select = f"SELECT {rows.MESSAGE_COLS} FROM message"
        return await self._read(
            lambda c: page_of(
                c, select, where, params, "id", page, rows.message_from_row, kind="msg"
            )
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
            queue.mark_due(conn, [endpoint_id], now_ms)
            return delivery

        result = await self._write(op, own_locks=True)
        self._work.set()
        return result

    # ----- attempts -----------------------------------------------------------------

    async def list_attempts(
        self, app_id: str, flt: AttemptFilter, page: PageRequest, msg_id: str | None = None
    ) -> Page[Attempt]:
        cols = ", ".join("a." + c.strip() for c in rows.ATTEMPT_COLS.split(","))
        select, where, params = self._attempts_where(f"SELECT {cols}", app_id, flt, msg_id)
        return await self._read(
            lambda c: page_of(
                c, select, where, params, "a.id", page, rows.attempt_from_row, kind="atmpt"
            )
        )

    async def count_attempts(self, app_id: str, flt: AttemptFilter, ceiling: int) -> int:
        """How many attempts ``list_attempts`` would list, counting at most ``ceiling + 1``
        (Svix's count is approximate past a ceiling: a count of every row is a scan)."""
        select, where, params = self._attempts_where("SELECT 1", app_id, flt, None)
        sql = f"SELECT COUNT(*) FROM ({select} WHERE {' AND '.join(where)} LIMIT ?) capped"

        def op(conn: Conn) -> int:
            return int(conn.execute(sql, (*params, ceiling + 1)).fetchone()[0])

        return await self._read(op)

    def _attempts_where(
        self, select: str, app_id: str, flt: AttemptFilter, msg_id: str | None
    ) -> tuple[str, list[str], list[Any]]:
        """The FROM and WHERE both attempt reads share, after ``select``."""
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
        select += " FROM attempt a"
        if flt.status_code_class is not None:
            if flt.status_code_class == 0:  # no HTTP answer at all
                where.append("a.response_status = 0")
            else:
                where.append("a.response_status >= ? AND a.response_status < ?")
                params.extend((flt.status_code_class, flt.status_code_class + 100))
        if flt.event_types or flt.channel or flt.tag:
            select += " JOIN message m ON m.id = a.msg_id"
            time_and_type_filters(
                flt.event_types, flt.channel, None, None, where, params, "m.", self._db.dialect
            )
            tag_filter(flt.tag, where, params, "m.", self._db.dialect)
        if flt.before_ms is not None:
            where.append("a.created_at < ?")
            params.append(flt.before_ms)
        if flt.after_ms is not None:
            where.append("a.created_at > ?")
            params.append(flt.after_ms)
        return select, where, params

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
