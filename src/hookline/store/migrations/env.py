"""Alembic environment: one migration history for every SQL dialect.

On PostgreSQL the upgrade runs under a session advisory lock, so several processes
running ``hookline migrate`` at once take turns: the later ones find the schema current
(Alembic reads the revision after the lock is held). The revisions found and left are
handed back to the caller through ``config.attributes``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from hookline.store.migrate import LOCK_KEY
from hookline.store.schema import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "the caller sets sqlalchemy.url"

engine = create_engine(url, poolclass=pool.NullPool)
try:
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({LOCK_KEY})")
            connection.commit()  # the lock is the session's; the upgrade's own transaction follows
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            migration = context.get_context()
            with context.begin_transaction():
                config.attributes["from_revision"] = migration.get_current_revision()
                context.run_migrations()
                config.attributes["to_revision"] = migration.get_current_revision()
        finally:
            if postgres:
                connection.rollback()
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_KEY})")
                connection.commit()
finally:
    engine.dispose()
