"""The PostgreSQL store: many processes on many machines share one database.

The verbs are the SQL store's; ``PostgresDatabase`` runs them, and LISTEN/NOTIFY carries
the wake-ups between processes.
"""

from __future__ import annotations

from hookline.signing.at_rest import SecretBox
from hookline.store.postgres_db import PostgresDatabase
from hookline.store.postgres_notify import PgNotifyChannel
from hookline.store.sql_store import SqlStore

DRIVER_PREFIXES = ("postgresql+psycopg://", "postgres://", "postgresql://")


def libpq_url(url: str) -> str:
    """The URL as libpq takes it: SQLAlchemy's ``+psycopg`` driver suffix removed."""
    for prefix in DRIVER_PREFIXES:
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url!r}")


def sqlalchemy_url(url: str) -> str:
    """The URL as SQLAlchemy (Alembic) takes it, through psycopg 3."""
    return "postgresql+psycopg://" + libpq_url(url)[len("postgresql://") :]


class PostgresStore(SqlStore):
    """Implements ``hookline.store.base.Store`` on a PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        box: SecretBox,
        pool_size: int = 8,
        notify_url: str | None = None,
    ) -> None:
        db = PostgresDatabase(libpq_url(url), pool_size)
        peers = PgNotifyChannel(libpq_url(notify_url or url))
        super().__init__(db, box=box, peers=peers)
        self._pg = db

    @property
    def reruns(self) -> int:
        """Transactions PostgreSQL aborted (serialization failures, deadlocks) and this
        process ran again: a health figure, and what tests of contention count."""
        return self._pg.reruns
