"""An idempotency store in a table of the Django project's database, without a model.

No app to install and no migration to run: the table is created on first use (``CREATE
TABLE IF NOT EXISTS``) through ``django.db.connections[using]``. A claim is one INSERT
in a savepoint; the primary key lets one of any racing processes win, on every backend.
"""

from __future__ import annotations

import time

from django.db import IntegrityError, connections, transaction

from hookline.receive.handlers import KEY_MAX

DEFAULT_TABLE = "hookline_webhook_claims"


class DjangoIdempotencyStore:
    """``IdempotencyStore`` in ``table_name`` of the ``using`` database; columns ``key``
    (primary key) and ``claimed_at`` (unix milliseconds). ``prune`` forgets old claims."""

    def __init__(self, table_name: str = DEFAULT_TABLE, using: str = "default") -> None:
        self.table_name = table_name
        self.using = using
        self._ready = False

    def _names(self) -> tuple[str, str, str]:
        quote = connections[self.using].ops.quote_name
        return quote(self.table_name), quote("key"), quote("claimed_at")

    def create_table(self) -> None:
        """Create the table if missing (``claim`` does so on first use)."""
        table, key, claimed = self._names()
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table}"
                f" ({key} varchar({KEY_MAX}) NOT NULL PRIMARY KEY, {claimed} bigint NOT NULL)"
            )
        self._ready = True

    def claim(self, key: str) -> bool:
        if not self._ready:
            self.create_table()
        table, key_col, claimed = self._names()
        try:
            with transaction.atomic(using=self.using), connections[self.using].cursor() as cur:
                cur.execute(
                    f"INSERT INTO {table} ({key_col}, {claimed}) VALUES (%s, %s)",
                    [key, time.time_ns() // 1_000_000],
                )
        except IntegrityError:
            return False
        return True

    def release(self, key: str) -> None:
        table, key_col, _ = self._names()
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {key_col} = %s", [key])

    def prune(self, older_than_seconds: float) -> int:
        """Forget claims older than that; returns how many."""
        table, _, claimed = self._names()
        cutoff = time.time_ns() // 1_000_000 - int(older_than_seconds * 1000)
        with connections[self.using].cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE {claimed} < %s", [cutoff])
            count: int = cursor.rowcount
        return count
