"""``hookline migrate`` and the start-up schema check, as real processes on a real
PostgreSQL (and SQLite where the check is the same): migrate says what it did and is safe
to run from several processes at once; ``serve`` and ``worker`` refuse a schema behind,
create one on an empty database and serve on one a newer release migrated."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

import hookline
from hookline.store import migrate
from hookline.testing.postgres import PostgresServer

pytestmark = pytest.mark.e2e

SRC_DIR = Path(hookline.__file__).resolve().parents[1]
EXIT_TIMEOUT = 60.0
PREVIOUS = migrate.REVISIONS[-2]
NEXT = "9999_next"


@pytest.fixture
def empty_pg(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"cli_{secrets.token_hex(6)}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


def env_for(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
    env["HOOKLINE_DATA_DIR"] = str(tmp_path / "data")
    if database_url is not None:
        env["HOOKLINE_DATABASE_URL"] = database_url
    return env


def hookline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hookline", *args]


def run(tmp_path: Path, database_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hookline_cmd(*args),
        env=env_for(tmp_path, database_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
    )


def revision(url: str) -> str | None:
    return migrate.read_revision(url).revision


def test_migrate_says_where_it_migrated_from_and_to(tmp_path: Path, empty_pg: str) -> None:
    migrate.upgrade(migrate.alembic_url(empty_pg), PREVIOUS)
    done = run(tmp_path, empty_pg, "migrate")
    assert done.returncode == 0, done
    assert f"from revision {PREVIOUS} to {migrate.HEAD}" in done.stdout, done
    assert revision(empty_pg) == migrate.HEAD
    done = run(tmp_path, empty_pg, "migrate")
    assert done.returncode == 0, done
    assert f"up to date (revision {migrate.HEAD})" in done.stdout, done


def test_concurrent_migrates_take_turns(tmp_path: Path, empty_pg: str) -> None:
    """Three ``hookline migrate`` at once on a database one revision behind. The test
    holds back every revision bump (reads pass) until all three wait on a lock, so
    without the advisory lock they would all run the same migration together."""
    migrate.upgrade(migrate.alembic_url(empty_pg), PREVIOUS)
    env = env_for(tmp_path, empty_pg)
    with psycopg.connect(empty_pg) as gate:
        gate.execute("LOCK TABLE alembic_version IN EXCLUSIVE MODE")
        procs = [
            subprocess.Popen(
                hookline_cmd("migrate"),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        try:
            deadline = time.monotonic() + EXIT_TIMEOUT
            while waiting(empty_pg) < len(procs):
                assert time.monotonic() < deadline, "the migrations never met at the lock"
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                time.sleep(0.1)
        finally:
            gate.commit()  # releases the table lock
        outputs = [p.communicate(timeout=EXIT_TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    migrated = [out for out, _ in outputs if f"from revision {PREVIOUS}" in out]
    assert len(migrated) == 1, outputs  # the others found it done once they had the lock
    assert revision(empty_pg) == migrate.HEAD


def waiting(url: str) -> int:
    """Sessions of the database waiting for a lock (a table's or an advisory one)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_an_unreachable_database_is_one_line_and_a_failure(tmp_path: Path) -> None:
    from hookline.testing.ports import free_port

    url = f"postgresql://hookline:s3cret@127.0.0.1:{free_port()}/nowhere"
    for args in (["migrate"], ["worker"]):
        done = run(tmp_path, url, *args)
        assert done.returncode != 0, done
        assert "Traceback" not in done.stderr, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot reach the database" in lines[0], done.stderr
        assert "s3cret" not in done.stderr + done.stdout


def test_without_the_driver_a_postgres_url_is_one_clear_error(tmp_path: Path) -> None:
    # the interpreter as if psycopg were not installed: importing it fails
    code = "import sys; sys.modules['psycopg'] = None; from hookline.cli import main; main()"
    for args in (["migrate"], ["worker"]):
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env_for(tmp_path, "postgresql://hookline@127.0.0.1:1/x"),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=EXIT_TIMEOUT,
        )
        assert done.returncode != 0, done
        assert "Traceback" not in done.stderr, done.stderr
        assert "pip install 'hookline[postgres]'" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args",
    [["serve", "--workers", "1"], ["worker"]],
    ids=["serve", "worker"],
)
def test_a_schema_behind_is_refused(tmp_path: Path, empty_pg: str, args: list[str]) -> None:
    migrate.upgrade(migrate.alembic_url(empty_pg), PREVIOUS)
    from hookline.testing.ports import free_port

    if args[0] == "serve":
        args = [*args, "--host", "127.0.0.1", "--port", str(free_port())]
    done = run(tmp_path, empty_pg, *args)  # a process that serves instead times out here
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert PREVIOUS in message and migrate.HEAD in message, done.stderr
    assert "run `hookline migrate`" in message, done.stderr
    assert "hookline API" not in done.stdout  # refused before it said it was serving
    assert revision(empty_pg) == PREVIOUS  # and it migrated nothing itself


async def test_a_first_serve_creates_the_schema(start_server, empty_pg: str) -> None:
    server = await asyncio.to_thread(
        start_server, None, {"HOOKLINE_DATABASE_URL": empty_pg}, args=["--workers", "1"]
    )
    assert revision(empty_pg) == migrate.HEAD
    async with server.api() as api:
        app_id = await api.create_app("first")
        assert (await api._call("GET", f"/app/{app_id}", 200))["name"] == "first"


async def test_a_schema_one_revision_ahead_is_served(
    start_server, tmp_path: Path, empty_pg: str
) -> None:
    postgres_url = empty_pg  # a database of its own: its schema is changed for good
    migrate.upgrade(migrate.alembic_url(postgres_url))
    # what the next release's migration would do: only add (a column, a table)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE endpoint ADD COLUMN next_release_note TEXT")
        conn.execute("CREATE TABLE next_release (id VARCHAR(40) PRIMARY KEY)")
        conn.execute("UPDATE alembic_version SET version_num = %s", (NEXT,))
    server = await asyncio.to_thread(
        start_server, None, {"HOOKLINE_DATABASE_URL": postgres_url}, args=["--workers", "1"]
    )
    async with server.api() as api:  # the API process and the worker process both started
        app_id = await api.create_app("ahead")
        assert (await api._call("GET", f"/app/{app_id}", 200))["name"] == "ahead"
    assert NEXT in server.stderr_path.read_text()  # with a warning
    # this release's migrate leaves the newer schema alone, and says so
    done = await asyncio.to_thread(run, tmp_path, postgres_url, "migrate")
    assert done.returncode == 0, done
    assert f"at revision {NEXT}, newer than this release" in done.stdout, done
    assert revision(postgres_url) == NEXT  # untouched


def test_a_current_schema_starts_without_alembic(tmp_path: Path, database_url: str | None) -> None:
    if database_url is None:  # SQLite: a current database file first
        database_url = f"sqlite:///{tmp_path / 'data' / 'hookline.db'}"
        assert run(tmp_path, database_url, "migrate").returncode == 0
    # a process started on its own, then a supervised child (``migrated``)
    code = (
        "import sys\n"
        "from hookline.config import Settings\n"
        "from hookline.runtime import open_store\n"
        "open_store(Settings())\n"
        "open_store(Settings(), migrated=True)\n"
        "print('alembic' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(tmp_path, database_url),
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
    )
    assert done.returncode == 0, done
    assert done.stdout.split() == ["False", "False"], done
