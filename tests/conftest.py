"""Fixtures every suite shares: a real PostgreSQL server for the tests that run on both
backends.

One server per test session, started from the distribution's binaries in a temporary
folder (``hookline.testing.postgres``); each test gets a migrated database that no other
test is using (emptied after use and handed to the next test: far cheaper than a new
one). Where no binaries are found the PostgreSQL tests skip with one message; with
``CI=true`` they fail instead, so CI never passes without them.

A test that reads SQLite's file itself is marked ``sqlite_only``: its PostgreSQL case is
deselected, not skipped.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import psycopg
import pytest

from hookline import ids
from hookline.testing.postgres import PostgresMissing, PostgresServer

TEMPLATE = "hookline_template"
BACKENDS = ["sqlite", "postgres"]

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _id_clock_back_to_now() -> Iterator[None]:
    """Ids are ordered within a process, so one made for a test's future ``now`` (a lease
    run out, a day later) would date every later id in the process after it; and which
    tests share a process depends on how the suite is spread over processes."""
    yield
    ids._clock._last = 0


def new_postgres_server() -> PostgresServer:
    """A server (not started yet); the one skip, or under CI a failure, without binaries."""
    try:
        return PostgresServer()
    except PostgresMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"PostgreSQL tests skipped: {exc}")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server this test alone may stop and start again."""
    server = new_postgres_server()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = new_postgres_server()
    try:
        server.start()
        template = server.create_database(TEMPLATE)
        from hookline.store import migrate
        from hookline.store.postgres import sqlalchemy_url

        migrate.upgrade(sqlalchemy_url(template))
        yield server
    finally:
        server.destroy()


_free: list[str] = []  # databases emptied by the test that used them


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated, empty database of this test's own."""
    name = _free.pop() if _free else f"t{os.getpid()}_{next(_ids)}"
    if name not in _made:
        postgres_server.create_database(name, template=TEMPLATE)
        _made.add(name)
    url = postgres_server.url(name)
    yield url
    if _emptied(url):
        _free.append(name)
    else:  # something still holds it: drop it, connections and all
        postgres_server.drop_database(name)
        _made.discard(name)


_made: set[str] = set()


def _emptied(url: str) -> bool:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '3s'")
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
            ]
            # DELETE with the foreign keys' triggers off: a few milliseconds where TRUNCATE
            # (new files for every table) takes a tenth of a second, once per test
            conn.execute("SET session_replication_role = replica")
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')  # type: ignore[arg-type]
            conn.execute("SET session_replication_role = DEFAULT")
            (version,) = conn.execute("SELECT count(*) FROM alembic_version").fetchone() or (0,)
            return bool(version)
    except psycopg.Error:
        return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: reads SQLite's file directly; not run on PostgreSQL"
    )


# The longest files start first: with the suite spread over processes (``make test`` runs
# two), one of them runs these while the other works through the rest.
LONGEST_FIRST = (
    "tests/e2e/test_cluster_postgres.py",
    "tests/api/test_api_property.py",
    "tests/e2e/test_postgres_restart.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
    dropped = [
        item
        for item in items
        if item.get_closest_marker("sqlite_only") is not None
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("database_url") == "postgres"  # type: ignore[attr-defined]
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for SQLite in the test's data folder, else a PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
