"""Plain SQL against a test's database, SQLite or PostgreSQL, beside the store's own
connections: what a test reads to check the rows, or writes to break something."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from hookline.store.postgres import libpq_url
from hookline.store.postgres_db import to_pyformat


class RawSql:
    """``?`` placeholders on both; each call one autocommitted statement."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.dialect = "sqlite" if database_url is None else "postgresql"
        self._file = tmp_path / "hookline.db"
        self._url = None if database_url is None else libpq_url(database_url)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._url is None:
            with contextlib.closing(sqlite3.connect(self._file, isolation_level=None)) as conn:
                return list(conn.execute(sql, params))
        with psycopg.connect(self._url, autocommit=True) as pg:
            cursor = pg.execute(to_pyformat(sql), params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self.rows(sql, params)
