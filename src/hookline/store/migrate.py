"""Schema migrations through Alembic, and the cheap revision check every process makes
at start-up.

``hookline migrate`` runs Alembic. ``serve`` and ``worker`` only read the database's
revision (one ``SELECT`` through the driver, no Alembic import) and compare it with
``HEAD``: an empty database gets the schema, one behind is refused, one ahead (a newer
release migrated it, expand-then-contract) is served with a warning.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("hookline.migrate")

# Every revision of the history, oldest first; a test checks it against the scripts.
REVISIONS = tuple(f"{n:04d}" for n in range(1, 15))  # "0001" … "0014"
HEAD = REVISIONS[-1]
# pg_advisory_lock key held around an upgrade, so concurrent `hookline migrate` runs
# take turns (the second then finds the schema current); any fixed 64-bit number
LOCK_KEY = 0x686F6F6B6C696E65  # "hookline"
CONNECT_TIMEOUT_S = 10


class SchemaError(Exception):
    """The database cannot be used as it is; the message says what to do."""


class DatabaseUnreachable(SchemaError):
    pass


class SchemaBehind(SchemaError):
    pass


@dataclass(frozen=True, slots=True)
class Found:
    revision: str | None  # None: no alembic_version row
    tables: bool  # any table besides alembic_version

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.tables


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def read_revision(url: str) -> Found:
    """The database's revision, through the driver alone (no SQLAlchemy, no Alembic)."""
    if url.startswith("sqlite:"):
        return _read_sqlite(url.removeprefix("sqlite:///") or ":memory:")
    return _read_postgres(url)


def _read_sqlite(path: str) -> Found:
    if path == ":memory:" or not os.path.exists(path):
        return Found(None, False)
    try:
        conn = sqlite3.connect(path, timeout=CONNECT_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise DatabaseUnreachable(f"cannot open the database {path}: {exc}") from None
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = None
        if "alembic_version" in names:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        return Found(revision, bool(names - {"alembic_version"}))
    except sqlite3.Error as exc:
        raise DatabaseUnreachable(f"cannot read the database {path}: {exc}") from None
    finally:
        conn.close()


def _read_postgres(url: str) -> Found:
    import psycopg

    from hookline.store.postgres import libpq_url

    try:
        with psycopg.connect(
            libpq_url(url), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
        ) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            ).fetchall()
            names = {r[0] for r in tables}
            revision = None
            if "alembic_version" in names:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
    except psycopg.OperationalError as exc:
        reason = _line(exc)
        raise DatabaseUnreachable(f"cannot reach the database {redact(url)}: {reason}") from None
    except psycopg.Error as exc:
        raise SchemaError(f"cannot read the schema of {redact(url)}: {_line(exc)}") from None
    return Found(revision, bool(names - {"alembic_version"}))


def check(url: str, *, create: bool) -> Found:
    """What ``serve`` and ``worker`` do before serving. ``create``: an empty database is a
    first start and gets the schema (the supervising parent does it; its children pass
    False). Behind raises ``SchemaBehind``; ahead logs a warning and carries on."""
    found = read_revision(url)
    if found.empty and create:
        if url.startswith("sqlite:"):
            create_sqlite(url)
        else:
            upgrade(alembic_url(url))
        return read_revision(url)
    if found.revision is None:
        if found.tables:
            raise SchemaError(
                f"the database {redact(url)} has tables but no schema revision"
                " (alembic_version): not a hookline database; use an empty one"
            )
        raise SchemaBehind(f"the database {redact(url)} has no schema; run `hookline migrate`")
    if found.revision == HEAD:
        return found
    if found.revision in REVISIONS:
        raise SchemaBehind(
            f"the database schema is at revision {found.revision}, this release needs"
            f" {HEAD}: run `hookline migrate`"
        )
    log.warning(
        "the database schema is at revision %s, which this release (head %s) does not know:"
        " a newer release migrated it; serving on, as its migrations only add",
        found.revision,
        HEAD,
    )
    return found


def _line(exc: BaseException) -> str:
    """The last line of a driver's message: the reason, without its context."""
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def alembic_url(url: str) -> str:
    """The URL as SQLAlchemy takes it: PostgreSQL through psycopg 3."""
    if url.startswith("sqlite:"):
        return url
    from hookline.store.postgres import sqlalchemy_url

    return sqlalchemy_url(url)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "hookline.store:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def create_sqlite(url: str) -> None:
    """A first start on SQLite: the declared schema at once, stamped with this release's
    head, instead of replaying every revision (each SQLite ``ALTER`` rebuilds its table,
    seconds in all). A test checks that both give the same schema; later releases migrate
    from the stamp as from any upgraded database."""
    from sqlalchemy import create_engine, event, pool, text

    from hookline.store.schema import metadata

    engine = create_engine(alembic_url(url), poolclass=pool.NullPool)

    # sqlite3 opens no transaction before DDL, so each CREATE would commit (and sync) on
    # its own: one explicit transaction makes the schema one commit, and all or nothing
    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL,"
                    " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO alembic_version (version_num) SELECT :head"
                    " WHERE NOT EXISTS (SELECT 1 FROM alembic_version)"
                ),
                {"head": HEAD},
            )
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database at ``url`` (a SQLAlchemy URL) to ``revision``; a no-op when it
    is current. Returns the revisions it found and left, both read under the lock."""
    from alembic import command
    from sqlalchemy.exc import OperationalError

    cfg = alembic_config(url)
    try:
        command.upgrade(cfg, revision)
    except OperationalError as exc:  # unreachable, or (SQLite) a file it cannot open
        raise SchemaError(f"cannot migrate {redact(url)}: {_line(exc.orig or exc)}") from None
    return cfg.attributes.get("from_revision"), cfg.attributes.get("to_revision")
