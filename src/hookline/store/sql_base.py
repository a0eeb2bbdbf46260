"""Shared plumbing of the SQL stores: error wrapping, pagination, lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from hookline.errors import Conflict, StoreError, ValidationFailed
from hookline.models import (
    Application,
    Endpoint,
    Page,
)
from hookline.signing.at_rest import KEY_HINT, SecretBox, UndecryptableSecret
from hookline.store import rows
from hookline.store import sql_queue as queue
from hookline.store.base import (
    BACK,
    PageRequest,
)
from hookline.store.records import iterator_after
from hookline.store.sql_conn import Conn, Database
from hookline.store.wakeup import PeerChannel, WorkSignal

T = TypeVar("T")


def page_of(
    conn: Conn,
    select: str,
    where: list[str],
    params: list[Any],
    key: str,
    page: PageRequest,
    convert: Callable[[Any], T],
    *,
    kind: str | None = None,
) -> Page[T]:
    """Keyset pagination over a unique key (column 0), both ways, as Svix pages: the
    iterator is the last key of the page, ``prev_iterator`` is ``-`` and its first key,
    and a page reached backwards comes in the list's order too. ``done`` says there is
    nothing further in the direction walked. ``kind`` is the key's id prefix (or
    ``NAME_KEY``): an iterator that is not one of this list's is a 422."""
    back, cursor = page.cursor(kind)
    where = list(where)
    params = list(params)
    descending = page.reverse != back  # the direction of the walk, not of the list
    op, order = ("<", "DESC") if descending else (">", "ASC")
    if cursor is not None:
        where.append(f"{key} {op} ?")
        params.append(cursor)
    sql = select + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY {key} {order} LIMIT ?"
    params.append(page.limit + 1)
    fetched = conn.execute(sql, params).fetchall()
    more = len(fetched) > page.limit
    fetched = fetched[: page.limit]
    if back:
        fetched.reverse()
    if not fetched:
        # nothing before the cursor: the first page (no iterator) continues from here;
        # nothing after it: the cursor stays, so a later call sees what is added
        stay = None if back or cursor is None else iterator_after(cursor)
        return Page(data=[], iterator=stay, prev_iterator=None, done=True)
    return Page(
        data=[convert(r) for r in fetched],
        iterator=iterator_after(str(fetched[-1][0])),
        prev_iterator=BACK + str(fetched[0][0]),
        done=not more,
    )


def unstorable(exc: Exception) -> ValidationFailed:
    """Input that JSON or UTF-8 cannot carry (lone surrogates, integers past 64 bits)."""
    return ValidationFailed(
        [{"loc": ["body"], "msg": f"value cannot be stored: {exc}", "type": "value_error"}]
    )


FILTER_THREADS = 2


class SqlBase:
    """The database, the wake-up event, the threads payload filters run on, and driver
    errors turned into hookline's."""

    def __init__(self, db: Database, *, box: SecretBox, peers: PeerChannel | None) -> None:
        self._db = db
        self._box = box
        # set() after a commit that made work due: wakes the worker here and, given peers,
        # the workers of every other process on this database
        self._work = WorkSignal(peers)
        self._fanout_work = asyncio.Event()  # a fanout row was committed, or may have been
        self._work.wakes_too(self._fanout_work)  # a peer's wake-up may be a fan-out
        # Filters run before a write, on threads of their own: never on the loop, never
        # under the writer's lock, and never holding the loop's default executor (DNS).
        self._filter_exec = ThreadPoolExecutor(FILTER_THREADS, "hookline-filters")

    async def open(self) -> None:
        """Open, then refuse to run if any stored secret cannot be decrypted: failing at
        start beats failing on the first delivery to that endpoint."""
        await self._db.open()
        try:
            await self._read(lambda conn: check_secrets(conn, self._box))
            await self._work.open()
        except BaseException:
            await self._db.close()
            raise

    async def close(self) -> None:
        await self._work.close()
        await self._db.close()
        self._filter_exec.shutdown(wait=False, cancel_futures=True)

    async def _off_writer(self, fn: Callable[[], T]) -> T:
        """Run a payload filter evaluation on the filter threads."""
        return await asyncio.get_running_loop().run_in_executor(self._filter_exec, fn)

    async def _read(self, op: Callable[[Conn], T]) -> T:
        try:
            return await self._db.read(op)
        except (UnicodeEncodeError, orjson.JSONEncodeError) as exc:
            raise unstorable(exc) from exc
        except self._db.driver_errors as exc:
            raise StoreError(str(exc)) from exc

    async def _write(self, op: Callable[[Conn], T], *, own_locks: bool = False) -> T:
        try:
            return await self._db.write(op, own_locks=own_locks)
        except self._db.integrity_errors as exc:
            raise Conflict(f"conflicts with an existing record: {exc}") from exc
        except (UnicodeEncodeError, orjson.JSONEncodeError) as exc:
            raise unstorable(exc) from exc
        except self._db.driver_errors as exc:
            raise StoreError(str(exc)) from exc


def find_app(conn: Conn, ref: str) -> Application | None:
    r = conn.execute(
        f"SELECT {rows.APP_COLS} FROM application WHERE id=? OR uid=?", (ref, ref)
    ).fetchone()
    return None if r is None else rows.app_from_row(r)


def find_endpoint(conn: Conn, app_id: str, ref: str, box: SecretBox) -> Endpoint | None:
    r = conn.execute(
        f"SELECT {rows.ENDPOINT_COLS} FROM endpoint WHERE app_id=? AND (id=? OR uid=?)",
        (app_id, ref, ref),
    ).fetchone()
    return None if r is None else rows.endpoint_from_row(r, box)


CHECKED_REQUESTS = 1000
"""Received requests with sealed credentials opened at start, from each end of the log."""


def _sealed_sample(conn: Conn) -> list[str]:
    """The oldest and the newest requests' sealed credentials (all, if there are few).
    Opening every one could take minutes on a long log; these are the ones a key change
    leaves behind: the rotation walks oldest first, so if it never ran (or a key was
    dropped too soon) the oldest are under the old key, and the newest under the key
    current when they came in."""
    select = "SELECT id, sealed_headers FROM inbound_request WHERE sealed_headers IS NOT NULL"
    oldest = conn.execute(f"{select} ORDER BY id LIMIT ?", (CHECKED_REQUESTS,)).fetchall()
    if len(oldest) == CHECKED_REQUESTS:
        oldest += conn.execute(
            f"{select} AND id > ? ORDER BY id DESC LIMIT ?", (oldest[-1][0], CHECKED_REQUESTS)
        ).fetchall()
    return [sealed for _, sealed in oldest]


def check_secrets(conn: Conn, box: SecretBox) -> None:
    """Raise UndecryptableSecret, with counts, unless every endpoint secret, every
    source config and token, and a sample of received requests' credentials decrypts."""
    bad = _undecryptable(
        (
            [secret, *(key for key, _ in rows.load(old_secrets))]
            for secret, old_secrets in conn.execute("SELECT secret, old_secrets FROM endpoint")
        ),
        box.open,
    )
    bad_sources = _undecryptable(conn.execute("SELECT config, token FROM source"), box.open)
    bad_requests = _undecryptable(([s] for s in _sealed_sample(conn)), box.open_uncached)
    if bad or bad_sources or bad_requests:
        found = ((bad, "endpoint"), (bad_sources, "source"), (bad_requests, "received request"))
        counts = [f"{n} {what}(s)" for n, what in found if n]
        raise UndecryptableSecret(
            f"{' and '.join(counts)} have secrets the configured keys cannot decrypt: {KEY_HINT}"
        )


def _undecryptable(values: Iterable[Iterable[str]], open_: Callable[[str], str]) -> int:
    """How many of the rows (each its sealed values) hold one the keys cannot open."""
    bad = 0
    for row in values:
        try:
            for value in row:
                open_(value)
        except UndecryptableSecret:
            bad += 1
    return bad


def time_and_type_filters(
    event_types: Sequence[str] | None,
    channel: str | None,
    before_ms: int | None,
    after_ms: int | None,
    where: list[str],
    params: list[Any],
    prefix: str,
    dialect: str,
) -> None:
    if event_types:
        where.append(f"{prefix}event_type IN ({queue.marks(len(event_types))})")
        params.extend(event_types)
    if channel:
        elements = (
            f"json_each({prefix}channels)"
            if dialect == "sqlite"
            else f"jsonb_array_elements_text(({prefix}channels)::jsonb) AS c(value)"
        )
        where.append(f"EXISTS (SELECT 1 FROM {elements} WHERE value = ?)")
        params.append(channel)
    if before_ms is not None:
        where.append(f"{prefix}created_at < ?")
        params.append(before_ms)
    if after_ms is not None:
        where.append(f"{prefix}created_at > ?")
        params.append(after_ms)
