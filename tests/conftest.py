"""Fixtures every suite shares: a real PostgreSQL server for the tests that run on both
backends.

One server per test session, started from the distribution's binaries in a temporary
folder (``hookline.testing.postgres``); each test gets a database of its own, copied
from a migrated template. Where no binaries are found the PostgreSQL tests skip with
one message; with ``CI=true`` they fail instead, so CI never passes without them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from hookline.testing.postgres import PostgresMissing, PostgresServer

TEMPLATE = "hookline_template"
BACKENDS = ["sqlite", "postgres"]

_ids = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except PostgresMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        server.start()
        template = server.create_database(TEMPLATE)
        from hookline.store import migrate
        from hookline.store.postgres import sqlalchemy_url

        migrate.upgrade(sqlalchemy_url(template))
        yield server
    finally:
        server.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database of this test's own."""
    name = f"t{os.getpid()}_{next(_ids)}"
    url = postgres_server.create_database(name, template=TEMPLATE)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for SQLite in the test's data folder, else a PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
