"""What the SQL verbs need of a backend: a connection and a database.

The verbs are plain functions of a connection (``Conn``), written in SQL that SQLite and
PostgreSQL both accept, with sqlite3's ``?`` placeholders; each backend supplies a
``Database`` that runs them in transactions. Where the dialects must differ, a verb asks
``conn.dialect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What the verbs use of a connection: sqlite3's shape, ``?`` placeholders."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


class Database(Protocol):
    """Runs verbs in transactions. ``write`` returns once the transaction is durable;
    a write that conflicts with a concurrent one (PostgreSQL's serialization failures
    and deadlocks) is run again from the start, so a verb must not keep state between
    calls, and a verb must not swallow the driver's errors. ``integrity_errors`` become
    ``Conflict``, ``driver_errors`` ``StoreError``."""

    dialect: str
    integrity_errors: tuple[type[Exception], ...]
    driver_errors: tuple[type[Exception], ...]

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def read(self, op: Callable[[Conn], T]) -> T: ...
    async def write(self, op: Callable[[Conn], T], *, own_locks: bool = False) -> T:
        """``own_locks``: the verb takes the row locks it needs (``FOR UPDATE``), so a
        backend with concurrent writers may run it below SERIALIZABLE."""
        ...


def serialize_on(conn: Conn, *keys: str) -> None:
    """Make transactions that name one of ``keys`` wait for each other until commit.

    For verbs that run below SERIALIZABLE (``own_locks``) and check before they insert
    (an application's uid, a message's eventId, an idempotency key, a dedup key): once
    the lock is held, the check sees what the previous holder committed. A PostgreSQL
    transaction-scoped advisory lock on the key's hash (a collision only makes two
    unrelated keys wait for each other); SQLite's single writer needs none. Callers
    take their keys in one fixed order, so no two transactions wait on each other."""
    if conn.dialect != "postgresql":
        return
    for key in keys:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))
