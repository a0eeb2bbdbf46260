"""Received requests in SQLite: intake, the dedup window, and the routing queue.

Intake is one write through the group-commit writer: the request row and, for an accepted
request, its dedup row commit together, so two copies of one delivery that arrive at the
same moment serialise on the writer and exactly one of them is accepted. The routing
queue is the set of accepted (or replay-pending) rows not yet routed.

Credential headers (``credential_headers`` of the source) are sealed before the write, on
the event loop rather than the writer thread: their values go into ``sealed_headers`` as
one ``SecretBox`` token and read as ``***`` in ``headers``. Only the router's read opens
them (it must verify the request again); the API's reads never decrypt anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from hookline import ids
from hookline.errors import Conflict, NotFound, VersionConflict
from hookline.models import Page
from hookline.signing.at_rest import SecretBox
from hookline.sources import CREDENTIAL_HEADERS, InboundFilter, InboundRequest, Verdict
from hookline.store import rows
from hookline.store.base import PageRequest
from hookline.store.sql_base import SqlBase, page_of
from hookline.store.sql_conn import Conn, Database, serialize_on
from hookline.store.wakeup import PeerChannel

REQUEST_PREFIX = "req"
_COLS = (
    "id, source_id, method, path, query, headers, body, verdict, reason, status_code,"
    " event_type, dedup_key, msg_id, received_at, routed_at, replays, sealed_headers"
)
_PENDING = (Verdict.ACCEPTED.value, Verdict.REPLAY.value)
MAX_EXCLUDED = 1000  # held-back ids left out of one read (well under SQLite's bound variables)
SEALED = "***"  # what a sealed header's value reads as in the headers column


def seal_headers(
    headers: Mapping[str, str], names: Collection[str], box: SecretBox
) -> tuple[dict[str, str], str | None]:
    """``headers`` with the values of ``names`` replaced by ``***``, and those values as
    one sealed JSON object (None, and no encryption, if the request carries none)."""
    found = {k: v for k, v in headers.items() if k.lower() in names}
    if not found:
        return dict(headers), None
    shown = {k: SEALED if k in found else v for k, v in headers.items()}
    return shown, box.seal(rows.dump(found))


def request_from_row(r: rows.Row, box: SecretBox | None = None) -> InboundRequest:
    """With ``box``, sealed header values are opened (routing); without, they stay ``***``."""
    headers: dict[str, str] = rows.load(r[5])
    if box is not None and r[16] is not None:
        headers.update(rows.load(box.open_uncached(r[16])))  # keys already there: order is kept
    return InboundRequest(
        id=r[0],
        source_id=r[1],
        method=r[2],
        path=r[3],
        query=r[4],
        headers=headers,
        body=None if r[6] is None else bytes(r[6]),
        verdict=Verdict(r[7]),
        reason=r[8],
        status_code=r[9],
        event_type=r[10],
        dedup_key=r[11],
        msg_id=r[12],
        received_at=r[13],
        routed_at=r[14],
        replays=r[15],
    )


def _request_params(q: InboundRequest, headers: str, sealed: str | None) -> tuple[Any, ...]:
    return (
        q.id,
        q.source_id,
        q.method,
        q.path,
        q.query,
        headers,
        q.body,
        q.verdict.value,
        q.reason,
        q.status_code,
        q.event_type,
        q.dedup_key,
        q.msg_id,
        q.received_at,
        q.routed_at,
        q.replays,
        sealed,
    )


def _intake_op(
    conn: Conn,
    request: InboundRequest,
    headers: str,
    sealed: str | None,
    now_ms: int,
    source_version: int | None,
) -> InboundRequest:
    request = replace(request)  # a re-run (a serialization failure) starts from the original
    # PostgreSQL: a change to the source under way finishes first, and none starts until
    # this request is stored
    share = " FOR SHARE" if conn.dialect == "postgresql" else ""
    found = conn.execute(
        "SELECT version, dedup_window_ms FROM source WHERE id = ?" + share, (request.source_id,)
    ).fetchone()
    if found is None:
        raise NotFound(f"source {request.source_id!r} not found")
    version, window_ms = found
    if source_version is not None and version != source_version:
        # read under the writer: a token rotated or a secret removed a moment ago counts
        raise VersionConflict(f"source {request.source_id!r} changed")
    if request.verdict is Verdict.ACCEPTED and request.dedup_key is not None:
        serialize_on(conn, f"dedup:{request.source_id}:{request.dedup_key}")
        seen = conn.execute(
            "SELECT seen_at FROM inbound_dedup WHERE source_id = ? AND dedup_key = ?",
            (request.source_id, request.dedup_key),
        ).fetchone()
        if seen is not None and now_ms - seen[0] < window_ms:
            request.verdict = Verdict.DUPLICATE
        else:  # first sight, or seen before the window: this copy counts
            conn.execute(
                "INSERT INTO inbound_dedup (source_id, dedup_key, request_id, seen_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (source_id, dedup_key) DO UPDATE"
                " SET request_id = excluded.request_id, seen_at = excluded.seen_at",
                (request.source_id, request.dedup_key, request.id, now_ms),
            )
    conn.execute(
        f"INSERT INTO inbound_request ({_COLS}) VALUES ({rows.marks_for(_COLS)})",
        _request_params(request, headers, sealed),
    )
    return request


def mark_routed_op(
    conn: Conn,
    request_id: str,
    now_ms: int,
    msg_id: str | None,
    verdict: Verdict | None,
    reason: str | None,
) -> None:
    sets, params = ["routed_at = ?", "msg_id = ?"], [now_ms, msg_id]
    if verdict is not None:
        sets.append("verdict = ?")
        params.append(verdict.value)
        sets.append("reason = ?")
        params.append(reason)
    conn.execute(
        f"UPDATE inbound_request SET {', '.join(sets)} WHERE id = ? AND routed_at IS NULL",
        [*params, request_id],
    )


def _find(conn: Conn, source_id: str, request_id: str) -> InboundRequest:
    r = conn.execute(
        f"SELECT {_COLS} FROM inbound_request WHERE id = ? AND source_id = ?",
        (request_id, source_id),
    ).fetchone()
    if r is None:
        raise NotFound(f"request {request_id!r} not found")
    return request_from_row(r)


def _replay_op(conn: Conn, source_id: str, request_id: str) -> InboundRequest:
    request = _find(conn, source_id, request_id)
    if request.routed_at is None and request.verdict.value in _PENDING:
        return request  # queued already: routing it once is what a replay asks
    if request.body is None:
        raise Conflict("the request's body has passed its retention period")
    conn.execute(
        "UPDATE inbound_request SET verdict = ?, reason = NULL, routed_at = NULL,"
        " replays = replays + 1 WHERE id = ?",
        (Verdict.REPLAY.value, request_id),
    )
    return _find(conn, source_id, request_id)


def _expire_op(conn: Conn, after: str, before: str, now_ms: int, limit: int) -> tuple[int, str]:
    """Bodies of requests in ``(after, before)``, then dedup rows past their window
    (or of a deleted source), oldest first; returns the count and the new body cursor."""
    walked = conn.execute(
        "SELECT id FROM inbound_request WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
        (after, before, limit),
    ).fetchall()
    changed = 0
    if walked:
        last = str(walked[-1][0])
        # the sealed credentials go with the body: nothing is left to verify them against
        changed = conn.execute(
            "UPDATE inbound_request SET body = NULL, sealed_headers = NULL"
            " WHERE id > ? AND id <= ? AND (body IS NOT NULL OR sealed_headers IS NOT NULL)",
            (after, last),
        ).rowcount
        after = last
    changed += conn.execute(
        "DELETE FROM inbound_dedup WHERE (source_id, dedup_key) IN ("
        " SELECT d.source_id, d.dedup_key FROM inbound_dedup d"
        " LEFT JOIN source s ON s.id = d.source_id"
        " WHERE s.id IS NULL OR ? - d.seen_at >= s.dedup_window_ms"
        " ORDER BY d.seen_at LIMIT ?)",
        (now_ms, limit),
    ).rowcount
    return changed, after


class InboundOps(SqlBase):
    def __init__(self, db: Database, *, box: SecretBox, peers: PeerChannel | None) -> None:
        super().__init__(db, box=box, peers=peers)
        self._inbound = asyncio.Event()
        self._inbound_purged = ""  # request bodies up to this id are dropped already

    async def intake(
        self,
        request: InboundRequest,
        now_ms: int,
        source_version: int | None = None,
        credentials: frozenset[str] = CREDENTIAL_HEADERS,
    ) -> InboundRequest:
        shown, sealed = seal_headers(request.headers, credentials, self._box)
        stored = await self._write(
            partial(
                _intake_op,
                request=request,
                headers=rows.dump(shown),
                sealed=sealed,
                now_ms=now_ms,
                source_version=source_version,
            ),
            own_locks=True,  # many requests a second: they serialise on their dedup key only
        )
        if stored.verdict is Verdict.ACCEPTED:
            self._inbound.set()
        return stored

    async def unrouted_requests(
        self, limit: int, exclude: Sequence[str] = ()
    ) -> list[InboundRequest]:
        skipped = list(exclude)[:MAX_EXCLUDED]

        def op(conn: Conn) -> list[InboundRequest]:
            not_in = f" AND id NOT IN ({','.join('?' * len(skipped))})" if skipped else ""
            found = conn.execute(
                f"SELECT {_COLS} FROM inbound_request WHERE routed_at IS NULL"
                f" AND verdict IN (?, ?){not_in} ORDER BY id LIMIT ?",
                (*_PENDING, *skipped, limit),
            ).fetchall()
            return [request_from_row(r, self._box) for r in found]

        return await self._read(op)

    async def mark_routed(
        self,
        request_id: str,
        now_ms: int,
        msg_id: str | None,
        verdict: Verdict | None = None,
        reason: str | None = None,
    ) -> None:
        await self._write(
            partial(
                mark_routed_op,
                request_id=request_id,
                now_ms=now_ms,
                msg_id=msg_id,
                verdict=verdict,
                reason=reason,
            )
        )

    async def get_inbound_request(self, source_id: str, request_id: str) -> InboundRequest:
        return await self._read(lambda conn: _find(conn, source_id, request_id))

    async def list_inbound_requests(
        self, source_id: str, flt: InboundFilter, page: PageRequest
    ) -> Page[InboundRequest]:
        where, params = ["source_id = ?"], [source_id]
        if flt.verdict is not None:
            where.append("verdict = ?")
            params.append(flt.verdict.value)
        # ids sort by arrival time, so time bounds are id bounds (the source index serves)
        if flt.before_ms is not None:
            where.append("id < ?")
            params.append(ids.boundary_id(REQUEST_PREFIX, flt.before_ms))
        if flt.after_ms is not None:
            where.append("id >= ?")
            params.append(ids.boundary_id(REQUEST_PREFIX, flt.after_ms + 1))
        select = f"SELECT {_COLS} FROM inbound_request"
        return await self._read(
            lambda c: page_of(
                c, select, where, list(params), "id", page, request_from_row, kind=REQUEST_PREFIX
            )
        )

    async def replay_inbound(self, source_id: str, request_id: str, now_ms: int) -> InboundRequest:
        replayed = await self._write(
            partial(_replay_op, source_id=source_id, request_id=request_id)
        )
        self._inbound.set()
        return replayed

    async def wait_for_inbound(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._inbound.wait(), timeout)
        except TimeoutError:
            pass
        self._inbound.clear()

    async def expire_inbound(self, before_ms: int, now_ms: int, limit: int) -> int:
        before = ids.boundary_id(REQUEST_PREFIX, before_ms)
        changed, self._inbound_purged = await self._write(
            partial(
                _expire_op, after=self._inbound_purged, before=before, now_ms=now_ms, limit=limit
            )
        )
        return changed
