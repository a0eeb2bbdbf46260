"""One migration history for SQLite and PostgreSQL: the migrated schema must equal the
declared one on both, or the stores' SQL drifts; and the start-up revision check must
tell an empty, a current, an older and a newer schema apart."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from hookline.store import migrate
from hookline.store.schema import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file not yet made, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'schema.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"m_{secrets.token_hex(6)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


def _execute(url: str, sql: str) -> None:
    engine = create_engine(migrate.alembic_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _where(options: dict[str, object], dialect: str) -> str | None:
    """An index's predicate, as comparable text (reflection adds parentheses)."""
    where = options.get(f"{dialect}_where")
    return None if where is None else re.sub(r"[()\s]", "", str(where)).lower()


def test_the_revision_list_is_the_history_of_the_scripts() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    chain = [s.revision for s in scripts.walk_revisions()][::-1]
    assert tuple(chain) == migrate.REVISIONS
    assert scripts.get_current_head() == migrate.HEAD


def assert_declared_schema(url: str) -> None:
    """The database at ``url`` has exactly the schema ``store/schema.py`` declares."""
    engine = create_engine(migrate.alembic_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diff = compare_metadata(context, metadata)
            dialect = conn.dialect.name
            reflected = {
                (table, ix["name"]): _where(ix.get("dialect_options", {}), dialect)
                for table in metadata.tables
                for ix in inspect(conn).get_indexes(table)
                if "duplicates_constraint" not in ix  # PostgreSQL's unique constraints
            }
    finally:
        engine.dispose()
    assert diff == []
    # Alembic does not compare partial-index predicates: a full index where a partial one
    # is declared would pass the diff above
    declared = {
        (table.name, str(ix.name)): _where(
            {k: v for k, v in ix.dialect_kwargs.items() if v is not None}, dialect
        )
        for table in metadata.tables.values()
        for ix in table.indexes
    }
    assert reflected == declared
    assert any(where for where in declared.values())


def test_migrations_produce_the_declared_schema(empty_url: str) -> None:
    assert migrate.upgrade(migrate.alembic_url(empty_url)) == (None, migrate.HEAD)
    assert migrate.upgrade(migrate.alembic_url(empty_url)) == (migrate.HEAD, migrate.HEAD)
    assert_declared_schema(empty_url)


def test_a_first_start_on_sqlite_creates_the_declared_schema_at_the_head(tmp_path: Path) -> None:
    """A first start on SQLite creates the declared schema at once rather than replaying
    the history; it must be what the history gives, and later migrations start from it."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    found = migrate.check(url, create=True)
    assert (found.revision, found.tables) == (migrate.HEAD, True)
    assert_declared_schema(url)
    assert migrate.upgrade(migrate.alembic_url(url)) == (migrate.HEAD, migrate.HEAD)
    assert migrate.check(url, create=True) == found  # a second start changes nothing


def test_an_empty_database_gets_the_schema_at_a_first_start(empty_url: str) -> None:
    assert migrate.read_revision(empty_url).empty
    with pytest.raises(migrate.SchemaBehind, match="run `hookline migrate`"):
        migrate.check(empty_url, create=False)  # a child never creates it
    found = migrate.check(empty_url, create=True)
    assert found.revision == migrate.HEAD and found.tables


def test_a_schema_behind_is_refused_until_migrated(empty_url: str) -> None:
    previous = migrate.REVISIONS[-2]
    assert migrate.upgrade(migrate.alembic_url(empty_url), previous) == (None, previous)
    for create in (True, False):
        with pytest.raises(migrate.SchemaBehind) as refused:
            migrate.check(empty_url, create=create)
        message = str(refused.value)
        assert previous in message and migrate.HEAD in message, message
        assert "run `hookline migrate`" in message
    assert migrate.upgrade(migrate.alembic_url(empty_url)) == (previous, migrate.HEAD)
    assert migrate.check(empty_url, create=False).revision == migrate.HEAD


def test_a_schema_ahead_is_served_with_a_warning(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    migrate.upgrade(migrate.alembic_url(empty_url))
    _execute(empty_url, "UPDATE alembic_version SET version_num = '9999_next'")
    with caplog.at_level(logging.WARNING, logger="hookline.migrate"):
        found = migrate.check(empty_url, create=False)
    assert found.revision == "9999_next"
    assert "9999_next" in caplog.text and migrate.HEAD in caplog.text


def test_tables_without_a_revision_are_not_taken_for_a_hookline_database(
    empty_url: str,
) -> None:
    _execute(empty_url, "CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)")
    with pytest.raises(migrate.SchemaError, match="no schema revision"):
        migrate.check(empty_url, create=True)
