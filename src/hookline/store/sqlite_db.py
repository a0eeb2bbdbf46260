"""SQLite plumbing: one writer thread with group commit, one reader thread.

Write operations are plain functions of a connection. They queue up while the
writer is busy and the next batch runs in one transaction, each under its own
savepoint, so many small writes share one commit (DESIGN §7: 100 rows per
transaction is ~10x one row per transaction) and one failing write (say a unique
violation) rolls back alone.

Processes writing one file take turns through an ``flock`` on ``<db>-lock`` around
each transaction: the kernel hands the lock over the moment it is released, where
SQLite's busy handler sleeps and retries (up to 100 ms a try) and lets a process
that writes back to back starve the others. SQLite's own lock and ``busy_timeout``
still guard against any writer that does not take the file lock.

An API process goes first: it holds ``<db>-first`` shared while it waits for its turn
and writes, and a worker process about to write waits (up to ``DEFER_MAX_S``) while
anyone holds it. A publish then waits for at most the worker transaction under way,
and a stream of publishes can delay a worker's transaction by no more than that bound.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal", "-lock", "-first")


def secure_files(path: str) -> None:
    """Create the database file owner-only before SQLite or Alembic does, and tighten one
    made looser; SQLite gives its ``-wal``/``-shm`` files the main file's mode, and those
    hold the same data, so they are tightened too. A new folder is created 0700."""
    if path == ":memory:" or path.startswith("file:"):
        return
    Path(path).parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE))
    for name in (path, *(path + suffix for suffix in SIDE_FILES)):
        try:
            if os.stat(name).st_mode & 0o777 & ~PRIVATE_FILE:
                os.chmod(name, PRIVATE_FILE)
        except FileNotFoundError:
            continue


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection, saying which dialect the verbs are talking to."""

    dialect = "sqlite"


Op = Callable[[SqliteConnection], Any]


def connect(path: str, synchronous: str) -> SqliteConnection:
    """The file exists already, owner-only: the composition root ran ``secure_files``
    before migrating it, and SQLite gives the ``-wal``/``-shm`` files the same mode."""
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, factory=SqliteConnection
    )
    assert isinstance(conn, SqliteConnection)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection: memory is a target too
    return conn


class SqliteDatabase:
    """Owns the connections and the threads they live on."""

    dialect = "sqlite"
    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    driver_errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: str, synchronous: str = "FULL", *, priority: bool = False) -> None:
        self._priority = priority
        self._path = path
        self._synchronous = synchronous
        self._write_exec = ThreadPoolExecutor(1, thread_name_prefix="hookline-sqlite-w")
        self._read_exec = ThreadPoolExecutor(1, thread_name_prefix="hookline-sqlite-r")
        self._writer: SqliteConnection | None = None
        self._reader: SqliteConnection | None = None
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._turns: int | None = None  # the file whose flock orders writers across processes
        self._first = -1  # the file an API process holds shared while it waits or writes

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        if (
            sys.platform != "win32"
            and self._path != ":memory:"
            and not self._path.startswith("file:")
        ):
            self._turns = os.open(self._path + "-lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
            self._first = os.open(self._path + "-first", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        self._writer = await loop.run_in_executor(
            self._write_exec, connect, self._path, self._synchronous
        )
        self._reader = await loop.run_in_executor(
            self._read_exec, connect, self._path, self._synchronous
        )

    async def close(self) -> None:
        if self._drainer is not None:
            await asyncio.shield(self._drainer)
        loop = asyncio.get_running_loop()
        for conn, executor in ((self._writer, self._write_exec), (self._reader, self._read_exec)):
            if conn is not None:
                await loop.run_in_executor(executor, conn.close)
            executor.shutdown(wait=True)
        self._writer = self._reader = None
        if self._turns is not None:
            os.close(self._turns)
            os.close(self._first)
            self._turns, self._first = None, -1

    def _run_batch(self, conn: SqliteConnection, ops: list[Op]) -> list[tuple[bool, Any]]:
        return _run_batch_with(conn, ops, self._turns, self._first, self._priority)

    async def read(self, op: Callable[[SqliteConnection], T]) -> T:
        """Run a read-only function on the reader connection (sees committed data)."""
        conn = self._reader
        assert conn is not None, "database is not open"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_exec, _in_read_txn, conn, op)

    async def write(self, op: Callable[[SqliteConnection], T], *, own_locks: bool = False) -> T:
        """Run ``op`` in the next group commit; returns once it is durable. ``own_locks``
        changes nothing here: the single writer serialises every transaction."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((op, fut))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await asyncio.shield(fut)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                conn = self._writer
                assert conn is not None, "database is not open"
                outcomes = await loop.run_in_executor(
                    self._write_exec, self._run_batch, conn, [op for op, _ in batch]
                )
                for (_, fut), (ok, value) in zip(batch, outcomes, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._drainer = None


def _in_read_txn(conn: SqliteConnection, op: Callable[[SqliteConnection], T]) -> T:
    conn.execute("BEGIN")
    try:
        return op(conn)
    finally:
        conn.execute("COMMIT")


def _run_batch_with(
    conn: SqliteConnection, ops: list[Op], turns: int | None, first: int, priority: bool
) -> list[tuple[bool, Any]]:
    if turns is None or sys.platform == "win32":
        return _run_transaction(conn, ops)
    if priority:
        fcntl.flock(first, fcntl.LOCK_SH)  # held while waiting and writing: others defer
    else:
        _defer(first)
    try:
        fcntl.flock(turns, fcntl.LOCK_EX)  # every transaction is bounded, so is this wait
        try:
            return _run_transaction(conn, ops)
        finally:
            fcntl.flock(turns, fcntl.LOCK_UN)
    finally:
        if priority:
            fcntl.flock(first, fcntl.LOCK_UN)


DEFER_MAX_S = 0.02  # a worker defers to the API's writes this long at most per transaction


def _defer(first: int) -> None:
    """Wait while a priority writer waits or writes, up to DEFER_MAX_S."""
    deadline = time.monotonic() + DEFER_MAX_S
    while True:
        try:
            fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.0003)
            continue
        fcntl.flock(first, fcntl.LOCK_UN)
        return


def _run_transaction(conn: SqliteConnection, ops: list[Op]) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for op in ops:
            conn.execute("SAVEPOINT op")
            try:
                outcomes.append((True, op(conn)))
                conn.execute("RELEASE op")
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((False, exc))
        conn.execute("COMMIT")
    except Exception as exc:  # the commit itself failed: nothing in the batch is durable
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return [(False, exc)] * len(ops)
    return outcomes
