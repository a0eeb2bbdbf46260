"""Where a message went and what an endpoint got: the latest delivery per pair, read
from the delivery rows (the queue itself), plus the precheck publish would answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookline.models import DeliveryStatus, Endpoint, Message, Page, subscription_matches
from hookline.store import rows
from hookline.store import sql_queue as queue
from hookline.store.base import MessageFilter, PageRequest
from hookline.store.records import Attempted
from hookline.store.sql_base import SqlBase, page_of, time_and_type_filters
from hookline.store.sql_conn import Conn

PRECHECK_BATCH = 500


def tag_filter(
    tag: str | None, where: list[str], params: list[Any], prefix: str, dialect: str
) -> None:
    """Messages whose ``tags`` (a JSON list) hold ``tag``."""
    if not tag:
        return
    elements = (
        f"json_each({prefix}tags)"
        if dialect == "sqlite"
        else f"jsonb_array_elements_text(({prefix}tags)::jsonb) AS t(value)"
    )
    where.append(f"EXISTS (SELECT 1 FROM {elements} WHERE value = ?)")
    params.append(tag)


def _cols(prefix: str, columns: str) -> str:
    return ", ".join(prefix + c.strip() for c in columns.split(","))


# the latest delivery of the (message, endpoint) pair: resends make more than one
_LATEST = (
    "d.id = (SELECT MAX(d2.id) FROM delivery d2"
    " WHERE d2.msg_id = d.msg_id AND d2.endpoint_id = d.endpoint_id)"
)
_N_MSG = len(rows.MESSAGE_COLS.split(","))
_N_EP = len(rows.ENDPOINT_COLS.split(","))


def _attempted(r: rows.Row, at: int) -> Attempted:
    return Attempted(DeliveryStatus(r[at]), r[at + 1])


class AttemptedOps(SqlBase):
    async def list_attempted_messages(
        self,
        app_id: str,
        endpoint_id: str,
        flt: MessageFilter,
        status: DeliveryStatus | None,
        page: PageRequest,
    ) -> Page[tuple[Message, Attempted]]:
        where = ["d.app_id = ?", "d.endpoint_id = ?", _LATEST]
        params: list[Any] = [app_id, endpoint_id]
        if status is not None:
            where.append("d.status = ?")
            params.append(int(status))
        dialect = self._db.dialect
        time_and_type_filters(
            flt.event_types, flt.channel, flt.before_ms, flt.after_ms, where, params, "m.", dialect
        )
        tag_filter(flt.tag, where, params, "m.", dialect)
        select = (
            f"SELECT {_cols('m.', rows.MESSAGE_COLS)}, d.status, d.next_attempt_at"
            " FROM delivery d JOIN message m ON m.id = d.msg_id"
        )

        def convert(r: rows.Row) -> tuple[Message, Attempted]:
            return rows.message_from_row(r), _attempted(r, _N_MSG)

        return await self._read(
            lambda c: page_of(c, select, where, params, "m.id", page, convert, kind="msg")
        )

    async def list_attempted_destinations(
        self, app_id: str, msg_id: str, page: PageRequest
    ) -> Page[tuple[Endpoint, Attempted]]:
        where = ["d.app_id = ?", "d.msg_id = ?", _LATEST]
        params: list[Any] = [app_id, msg_id]
        select = (
            f"SELECT {_cols('e.', rows.ENDPOINT_COLS)}, d.status, d.next_attempt_at"
            " FROM delivery d JOIN endpoint e ON e.id = d.endpoint_id"
        )
        box = self._box

        def convert(r: rows.Row) -> tuple[Endpoint, Attempted]:
            return rows.endpoint_from_row(r, box), _attempted(r, _N_EP)

        return await self._read(
            lambda c: page_of(c, select, where, params, "e.id", page, convert, kind="ep")
        )

    async def messages_by_id(self, app_id: str, msg_ids: Sequence[str]) -> dict[str, Message]:
        """For attempt lists that show their message (``with_msg``)."""
        wanted = sorted(set(msg_ids))
        if not wanted:
            return {}

        def op(conn: Conn) -> dict[str, Message]:
            found = conn.execute(
                f"SELECT {rows.MESSAGE_COLS} FROM message"
                f" WHERE app_id = ? AND id IN ({queue.marks(len(wanted))})",
                (app_id, *wanted),
            )
            return {m.id: m for m in map(rows.message_from_row, found)}

        return await self._read(op)

    async def has_active_endpoint(
        self, app_id: str, event_type: str, channels: list[str] | None
    ) -> bool:
        """Whether publishing such a message would reach an enabled endpoint, by the same
        subscription test fan-out applies. A payload filter cannot be judged without a
        payload, so an endpoint that has one counts as listening."""

        def op(conn: Conn) -> bool:
            after = ""
            while True:
                batch = conn.execute(
                    "SELECT id, event_types, channels FROM endpoint"
                    " WHERE app_id = ? AND disabled = FALSE AND id > ? ORDER BY id LIMIT ?",
                    (app_id, after, PRECHECK_BATCH),
                ).fetchall()
                for _, types, wanted_channels in batch:
                    if subscription_matches(
                        rows.load(types), rows.load(wanted_channels), event_type, channels
                    ):
                        return True
                if len(batch) < PRECHECK_BATCH:
                    return False
                after = batch[-1][0]

        return await self._read(op)
