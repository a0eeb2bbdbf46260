"""An idempotency store in a database table, through SQLAlchemy.

Several processes (a server's workers, several servers) handling one provider's
webhooks share it: a claim is one INSERT of the key, and the primary key decides. On
SQLite and PostgreSQL that is ``INSERT ... ON CONFLICT DO NOTHING`` (the row count says
who won); elsewhere a plain INSERT whose ``IntegrityError`` means lost.
"""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, insert, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hookline.receive.handlers import KEY_MAX

DEFAULT_TABLE = "hookline_webhook_claims"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqlAlchemyIdempotencyStore:
    """``IdempotencyStore`` on ``engine``, in ``table_name`` (created if missing, columns
    ``key`` (primary key) and ``claimed_at`` (unix milliseconds)). Claims are kept until
    ``prune`` removes them."""

    def __init__(self, engine: Engine, table_name: str = DEFAULT_TABLE) -> None:
        self.engine = engine
        self.table = Table(
            table_name,
            MetaData(),
            Column("key", String(KEY_MAX), primary_key=True),
            Column("claimed_at", BigInteger, nullable=False),
        )
        try:
            self.table.create(engine, checkfirst=True)
        except SQLAlchemyError:  # another process created it between the check and ours
            if not inspect(engine).has_table(table_name):
                raise

    def claim(self, key: str) -> bool:
        row = {"key": key, "claimed_at": _now_ms()}
        dialect = self.engine.dialect.name
        with self.engine.begin() as conn:
            if dialect in ("sqlite", "postgresql"):
                module = sqlite if dialect == "sqlite" else postgresql
                stmt = module.insert(self.table).values(row).on_conflict_do_nothing()
                # an INSERT's row count is kept only when asked for
                counted = stmt.execution_options(preserve_rowcount=True)
                return conn.execute(counted).rowcount == 1
            try:
                with conn.begin_nested():
                    conn.execute(insert(self.table).values(row))
            except IntegrityError:
                return False
            return True

    def release(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.key == key))

    def prune(self, older_than_seconds: float) -> int:
        """Forget claims older than that; returns how many. A provider's retries end
        within days (Stripe: 3 days), so a week is a safe age to keep."""
        cutoff = _now_ms() - int(older_than_seconds * 1000)
        with self.engine.begin() as conn:
            result = conn.execute(delete(self.table).where(self.table.c.claimed_at < cutoff))
            return result.rowcount
