"""The store's publish and claim paths on PostgreSQL, once per driver (see
:mod:`bench.pg_drivers`, which runs them).

- publish: one SERIALIZABLE transaction inserting a message (1 KiB payload), N delivery
  rows (``executemany``) and moving the N endpoints' due time (``executemany``), as
  ``sql_messages``/``sql_queue`` do;
- claim: one READ COMMITTED transaction ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 32`` on
  one endpoint's due deliveries plus one ``UPDATE ... WHERE id IN (...)`` leasing them,
  then the result transaction (the deliveries updated and their attempt rows inserted,
  each one ``executemany``), as ``sql_claim``/``sql_results`` do.

The SQL is written once with ``?`` placeholders and rewritten per driver.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg import IsolationLevel

from hookline.store.postgres_db import PgConnection, PostgresDatabase, to_pyformat

PAYLOAD = b'{"type":"invoice.paid","data":{"note":"' + b"x" * 990 + b'"}}'
CLAIM_LIMIT = 32
DRIVERS = ("psycopg (sync, thread pool)", "psycopg (async)", "asyncpg")

MESSAGE_SQL = (
    "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,"
    " headers, created_at) VALUES (?, ?, 'invoice.paid', NULL, ?, NULL, NULL, NULL, ?)"
)
DELIVERY_SQL = (
    "INSERT INTO delivery (id, msg_id, endpoint_id, app_id, status, attempts, trigger,"
    " next_attempt_at, lease_owner, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 1, 0, 0, ?, NULL, ?, ?)"
)
DUE_SQL = (
    "UPDATE endpoint_state SET next_due_at = CASE WHEN next_due_at IS NULL"
    " OR next_due_at > CAST(? AS BIGINT) THEN CAST(? AS BIGINT) ELSE next_due_at END"
    " WHERE endpoint_id = ?"
)
PICK_SQL = (
    "SELECT id FROM delivery WHERE endpoint_id = ? AND next_attempt_at <= ?"
    f" ORDER BY next_attempt_at LIMIT {CLAIM_LIMIT} FOR UPDATE SKIP LOCKED"
)
RESULT_SQL = (
    "UPDATE delivery SET status = 0, attempts = attempts + 1, next_attempt_at = NULL,"
    " lease_owner = NULL, updated_at = ? WHERE id = ?"
)
ATTEMPT_SQL = (
    "INSERT INTO attempt (id, delivery_id, msg_id, endpoint_id, app_id, url, status,"
    " response_status, response_body, duration_ms, error_kind, trigger, created_at)"
    " VALUES (?, ?, ?, ?, 'app_bench', 'http://127.0.0.1:9/h', 0, 200, '', 3, NULL, 0, ?)"
)

_ids = itertools.count()


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_ids)}"


def lease_sql(count: int) -> str:
    marks = ", ".join("?" * count)
    return (
        "UPDATE delivery SET status = 3, lease_owner = ?, next_attempt_at = ?"
        f" WHERE id IN ({marks})"
    )


def dollar(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1, $2, ...``."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def now_ms() -> int:
    return int(time.time() * 1000)


def publish_rows(
    worker: int, fan: int
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A message, its ``fan`` deliveries and the due-time updates of their endpoints;
    publisher ``worker`` has endpoints of its own, so publishers never share a row."""
    at = now_ms()
    msg = new_id("msg")
    endpoints = [f"ep_pub_{worker}_{j}" for j in range(fan)]
    deliveries = [(new_id("dlv"), msg, ep, "app_bench", at, at, at) for ep in endpoints]
    return (msg, "app_bench", PAYLOAD, at), deliveries, [(at, at, ep) for ep in endpoints]


def results_rows(ids: Sequence[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    at = now_ms()
    return [(at, i) for i in ids], [(new_id("atm"), i, "msg_x", "ep_x", at) for i in ids]


# ----- the paths, once per driver shape ------------------------------------------------


def sync_publish(conn: PgConnection, worker: int, fan: int) -> int:
    msg, deliveries, due = publish_rows(worker, fan)
    conn.execute(MESSAGE_SQL, msg)
    conn.executemany(DELIVERY_SQL, deliveries)
    conn.executemany(DUE_SQL, due)
    return fan


def sync_claim(conn: PgConnection, endpoint: str, owner: str) -> list[str]:
    ids = [r[0] for r in conn.execute(PICK_SQL, (endpoint, now_ms())).fetchall()]
    if ids:
        conn.execute(lease_sql(len(ids)), (owner, now_ms() + 60_000, *ids))
    return ids


def sync_record(conn: PgConnection, ids: list[str]) -> None:
    updates, attempts = results_rows(ids)
    conn.executemany(RESULT_SQL, updates)
    conn.executemany(ATTEMPT_SQL, attempts)


class Driver:
    """``publish(worker, fan)`` and ``claim(worker, endpoint)`` as one driver runs them."""

    async def open(self, url: str, size: int) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, worker: int, fan: int) -> int:
        raise NotImplementedError

    async def claim(self, worker: int, endpoint: str) -> int:
        raise NotImplementedError


class PsycopgPool(Driver):
    async def open(self, url: str, size: int) -> None:
        self.db = PostgresDatabase(url, size)
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def publish(self, worker: int, fan: int) -> int:
        return await self.db.write(lambda c: sync_publish(c, worker, fan))

    async def claim(self, worker: int, endpoint: str) -> int:
        owner = f"w{worker}"
        ids = await self.db.write(lambda c: sync_claim(c, endpoint, owner), own_locks=True)
        if ids:
            await self.db.write(lambda c: sync_record(c, ids), own_locks=True)
        return len(ids)


async def _retrying(
    op: Callable[[], Awaitable[int]], conflicts: tuple[type[Exception], ...]
) -> int:
    """Run ``op`` again on a serialization failure, as the store's database does."""
    for attempt in range(1, 13):
        try:
            return await op()
        except conflicts:
            await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
    return await op()


class PsycopgAsync(Driver):
    async def open(self, url: str, size: int) -> None:
        self.conns = [await psycopg.AsyncConnection.connect(url) for _ in range(size)]

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()

    async def _tx(
        self, worker: int, level: IsolationLevel, body: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        conn = self.conns[worker]
        if conn.isolation_level != level:
            await conn.set_isolation_level(level)
        async with conn.transaction():
            return await body(conn)

    async def publish(self, worker: int, fan: int) -> int:
        async def body(conn: Any) -> int:
            msg, deliveries, due = publish_rows(worker, fan)
            await conn.execute(to_pyformat(MESSAGE_SQL), msg)
            async with conn.cursor() as cur:
                await cur.executemany(to_pyformat(DELIVERY_SQL), deliveries)
                await cur.executemany(to_pyformat(DUE_SQL), due)
            return fan

        op = lambda: self._tx(worker, IsolationLevel.SERIALIZABLE, body)  # noqa: E731
        return await _retrying(
            op, (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
        )

    async def claim(self, worker: int, endpoint: str) -> int:
        async def pick(conn: Any) -> list[str]:
            cur = await conn.execute(to_pyformat(PICK_SQL), (endpoint, now_ms()))
            ids = [r[0] for r in await cur.fetchall()]
            if ids:
                params = (f"w{worker}", now_ms() + 60_000, *ids)
                await conn.execute(to_pyformat(lease_sql(len(ids))), params)
            return ids

        ids = await self._tx(worker, IsolationLevel.READ_COMMITTED, pick)
        if ids:

            async def record(conn: Any) -> None:
                updates, attempts = results_rows(ids)
                async with conn.cursor() as cur:
                    await cur.executemany(to_pyformat(RESULT_SQL), updates)
                    await cur.executemany(to_pyformat(ATTEMPT_SQL), attempts)

            await self._tx(worker, IsolationLevel.READ_COMMITTED, record)
        return len(ids)


class Asyncpg(Driver):
    """Imported when used: ``python -m bench.pg_drivers`` installs it if missing."""

    async def open(self, url: str, size: int) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(url, min_size=size, max_size=size)

    async def close(self) -> None:
        await self.pool.close()

    async def publish(self, worker: int, fan: int) -> int:
        async def op() -> int:
            msg, deliveries, due = publish_rows(worker, fan)
            async with self.pool.acquire() as conn, conn.transaction(isolation="serializable"):
                await conn.execute(dollar(MESSAGE_SQL), *msg)
                await conn.executemany(dollar(DELIVERY_SQL), deliveries)
                await conn.executemany(dollar(DUE_SQL), due)
            return fan

        return await _retrying(op, conflicts()[2:])

    async def claim(self, worker: int, endpoint: str) -> int:
        async with self.pool.acquire() as conn:
            async with conn.transaction(isolation="read_committed"):
                rows = await conn.fetch(dollar(PICK_SQL), endpoint, now_ms())
                ids = [r[0] for r in rows]
                if ids:
                    await conn.execute(
                        dollar(lease_sql(len(ids))), f"w{worker}", now_ms() + 60_000, *ids
                    )
            if ids:
                updates, attempts = results_rows(ids)
                async with conn.transaction(isolation="read_committed"):
                    await conn.executemany(dollar(RESULT_SQL), updates)
                    await conn.executemany(dollar(ATTEMPT_SQL), attempts)
        return len(ids)


def conflicts() -> tuple[type[Exception], ...]:
    """What a transaction that still conflicts after its re-runs raises: psycopg's two,
    then asyncpg's two."""
    import asyncpg

    return (
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
        asyncpg.SerializationError,
        asyncpg.DeadlockDetectedError,
    )


def make(name: str) -> Driver:
    return {DRIVERS[0]: PsycopgPool, DRIVERS[1]: PsycopgAsync, DRIVERS[2]: Asyncpg}[name]()
