"""PostgreSQL plumbing: each verb is one transaction on a connection of its own thread.

The verbs are the SQLite store's, written in SQL both dialects accept (``sql_conn``);
``PgConnection`` gives them sqlite3's shape. Threads rather than an async driver: the
verbs stay plain functions, psycopg releases the GIL while it waits on the server, and
``executemany`` is pipelined (one round trip for the batch).

Isolation. A write runs SERIALIZABLE unless it says it takes its own row locks
(``own_locks``: the engine's claims and results, under ``FOR UPDATE``), so every verb
keeps the guarantees SQLite's single writer gave it. A transaction PostgreSQL aborts
for a serialization failure or a deadlock runs again from the start. A read sees one
snapshot (REPEATABLE READ, READ ONLY).

Lost connections. A connection that fails is dropped and the next call opens another,
so a server restart needs nothing but time. A transaction that fails before its COMMIT
was sent committed nothing, and runs again once on a new connection; one whose COMMIT
was sent and got no answer may or may not have committed, so the caller gets
``StoreUnavailable`` (503 with ``Retry-After`` at the API), never a guess.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel, errors

from hookline.errors import StoreUnavailable

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5
RETRIES = 12  # serialization failures and deadlocks, with a jittered backoff
RETRY_BASE_S = 0.002

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=2048)
def to_pyformat(sql: str) -> str:
    """sqlite3's ``?`` placeholders as psycopg's ``%s``; a literal ``%`` doubled."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class PgConnection:
    """A psycopg connection with sqlite3's ``execute``/``executemany``."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, parameters: Any = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(to_pyformat(sql), parameters or None)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        cursor.executemany(to_pyformat(sql), list(parameters))
        return cursor


class _CommitUnknown(Exception):
    """The connection failed after COMMIT was sent: the outcome is unknown."""


class PostgresDatabase:
    """A thread pool whose every thread holds one connection, opened on first use."""

    dialect = "postgresql"
    integrity_errors: tuple[type[Exception], ...] = (errors.IntegrityError,)
    driver_errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, url: str, pool_size: int = 8) -> None:
        self._url = url
        self._exec = ThreadPoolExecutor(pool_size, thread_name_prefix="hookline-pg")
        self._local = threading.local()
        self._all: set[psycopg.Connection[Any]] = set()
        self._all_lock = threading.Lock()
        self._closed = False
        self.reruns = 0  # transactions run again after a serialization failure or deadlock

    async def open(self) -> None:
        """Fail now, not at the first request, if the server cannot be reached."""
        await self.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._exec.shutdown, True)
        with self._all_lock:
            conns, self._all = list(self._all), set()
        for conn in conns:
            conn.close()

    async def read(self, op: Callable[[PgConnection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, self._run, op, True, False)

    async def write(self, op: Callable[[PgConnection], T], *, own_locks: bool = False) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._exec, self._run, op, False, own_locks)

    # ----- on the pool's threads -------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise StoreUnavailable("the store is closed")
        conn = psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S)
        self._local.conn = conn
        with self._all_lock:
            self._all.add(conn)
        return conn

    def _drop(self) -> None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                self._all.discard(conn)
            conn.close()

    def _run(self, op: Callable[[PgConnection], T], read_only: bool, own_locks: bool) -> T:
        reconnected = False
        conflicts = 0
        while True:
            try:
                conn = self._connection()
                return self._transaction(conn, op, read_only, own_locks)
            except (errors.SerializationFailure, errors.DeadlockDetected):
                conflicts += 1
                self.reruns += 1
                if conflicts > RETRIES:
                    raise
                time.sleep(random.uniform(0, RETRY_BASE_S * 2 ** min(conflicts, 6)))
            except _CommitUnknown as exc:
                self._drop()
                raise StoreUnavailable(
                    "the database connection failed during a commit; retry with the"
                    " same idempotency key"
                ) from exc.__cause__
            except psycopg.OperationalError as exc:
                broken = getattr(self._local, "conn", None)
                if broken is not None and not broken.closed and not _is_connection_lost(exc):
                    raise  # a statement's own failure (say, a cancelled query)
                self._drop()
                if reconnected:
                    raise StoreUnavailable(f"the database is unavailable: {exc}") from exc
                reconnected = True  # a pooled connection the server dropped: one more go

    @staticmethod
    def _transaction(
        conn: psycopg.Connection[Any],
        op: Callable[[PgConnection], T],
        read_only: bool,
        own_locks: bool,
    ) -> T:
        if read_only:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
        else:
            conn.read_only = False
            conn.isolation_level = (
                IsolationLevel.READ_COMMITTED if own_locks else IsolationLevel.SERIALIZABLE
            )
        try:
            result = op(PgConnection(conn))
        except BaseException:
            if not conn.closed:
                try:
                    conn.rollback()
                except psycopg.Error:
                    pass  # the connection is gone; the caller drops it
            raise
        try:
            conn.commit()
        except psycopg.OperationalError as exc:
            if _is_connection_lost(exc) or conn.closed:
                raise _CommitUnknown() from exc
            raise
        return result


def _is_connection_lost(exc: psycopg.OperationalError) -> bool:
    """The connection (not the statement) failed: refused, reset, or the server shut
    down (SQLSTATE class 08 and 57P0x)."""
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P0"))
