"""The message log's search: keyset pages newest first, with a bounded scan.

The application and the time range are index ranges over message ids; an id or eventId
is an index lookup. The other filters (event types, delivery status, endpoint, payload
text) are checked row by row, so a call examines at most ``SEARCH_SCAN_ROWS`` messages
of the range: a page may come back short (or empty) and not done, with an iterator
that continues the scan where it stopped. Following the iterators visits every match
exactly once, and no call walks the whole log looking for a rare match.
"""

from __future__ import annotations

from typing import Any

from hookline import ids
from hookline.models import OPERATIONAL_APP_ID, Message, MessageSearch, Page
from hookline.store import rows
from hookline.store.base import BACK, PageRequest
from hookline.store.sql_conn import Conn
from hookline.store.sql_queue import marks

SEARCH_SCAN_ROWS = 2000
MESSAGE_SELECT = "SELECT " + ", ".join("m." + c.strip() for c in rows.MESSAGE_COLS.split(","))


def _ranges(query: MessageSearch, app_id: str | None) -> tuple[list[str], list[Any]]:
    """The conditions an index serves."""
    where = ["m.app_id = ?" if app_id is not None else "m.app_id != ?"]
    params: list[Any] = [app_id if app_id is not None else OPERATIONAL_APP_ID]
    if query.since_ms is not None:
        where.append("m.id >= ?")
        params.append(ids.boundary_id("msg", query.since_ms))
    if query.until_ms is not None:
        where.append("m.id < ?")
        params.append(ids.boundary_id("msg", query.until_ms))
    if query.ref:
        # by id, or by eventId through the (app_id, event_id) index of each application
        apps = "?" if app_id is not None else "SELECT id FROM application"
        where.append(
            "(m.id = ? OR m.id IN (SELECT id FROM message"
            f" WHERE app_id IN ({apps}) AND event_id = ?))"
        )
        params += [query.ref, *([app_id] if app_id is not None else []), query.ref]
    return where, params


def _checks(conn: Conn, query: MessageSearch) -> tuple[list[str], list[Any]]:
    """The conditions checked row by row."""
    where: list[str] = []
    params: list[Any] = []
    if query.event_types:
        where.append(f"m.event_type IN ({marks(len(query.event_types))})")
        params += query.event_types
    if query.status is not None or query.endpoint_id is not None:
        sub = "SELECT 1 FROM delivery d WHERE d.msg_id = m.id"
        if query.endpoint_id is not None:
            sub += " AND d.endpoint_id = ?"
            params.append(query.endpoint_id)
        if query.status is not None:
            sub += " AND d.status = ?"
            params.append(int(query.status))
        where.append(f"EXISTS ({sub})")
    if query.text:
        if conn.dialect == "sqlite":
            where.append("instr(m.payload, ?) > 0")
        else:
            where.append("position(?::bytea in m.payload) > 0")
        params.append(query.text.encode())
    return where, params


def search(
    conn: Conn, query: MessageSearch, page: PageRequest, app_id: str | None
) -> Page[Message]:
    back, start = page.cursor("msg")
    where, params = _ranges(query, app_id)
    if start:
        where.append("m.id > ?" if back else "m.id < ?")
        params.append(start)
    order = "ASC" if back else "DESC"
    checks, check_params = _checks(conn, query)
    if not checks or query.ref:
        sql = f"{MESSAGE_SELECT} FROM message m WHERE {' AND '.join(where + checks)}"
        found = conn.execute(
            f"{sql} ORDER BY m.id {order} LIMIT ?", (*params, *check_params, page.limit + 1)
        ).fetchall()
        more = len(found) > page.limit
        found = found[: page.limit]
        reached = found[-1][0] if found else start
    else:
        window = (
            f"SELECT m.id FROM message m WHERE {' AND '.join(where)}"
            f" ORDER BY m.id {order} LIMIT {SEARCH_SCAN_ROWS}"
        )
        found = conn.execute(
            f"{MESSAGE_SELECT} FROM message m WHERE m.id IN ({window}) AND {' AND '.join(checks)}"
            f" ORDER BY m.id {order} LIMIT ?",
            (*params, *check_params, page.limit + 1),
        ).fetchall()
        more = len(found) > page.limit
        found = found[: page.limit]
        reached = found[-1][0] if found else start
        if not more:  # the page is short: did the scan stop at its bound or at the end?
            edge = conn.execute(
                f"SELECT m.id FROM message m WHERE {' AND '.join(where)}"
                f" ORDER BY m.id {order} LIMIT 1 OFFSET {SEARCH_SCAN_ROWS - 1}",
                params,
            ).fetchone()
            if edge is not None:
                more, reached = True, edge[0]
    data = [rows.message_from_row(r) for r in found]
    if back:
        data.reverse()
        return Page(
            data=data,
            iterator=data[-1].id if data else start,
            prev_iterator=BACK + reached if reached else None,
            done=not more,
        )
    newest = data[0].id if data else start
    return Page(
        data=data,
        iterator=reached,
        prev_iterator=BACK + newest if newest else None,
        done=not more,
    )
