"""Processes writing one SQLite file take turns through the ``-lock`` file: a write waits
while another process holds it and goes ahead as soon as it is released."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

from hookline.store.sqlite_db import DEFER_MAX_S, SqliteDatabase

HELD_S = 0.5


async def test_a_write_waits_for_the_turn_another_process_holds(tmp_path: Path) -> None:
    path = str(tmp_path / "turns.db")
    db = SqliteDatabase(path, "NORMAL")
    await db.open()
    try:
        await db.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
        other = os.open(path + "-lock", os.O_RDWR)  # its own open file: another holder
        assert os.stat(path + "-lock").st_mode & 0o777 == 0o600
        try:
            fcntl.flock(other, fcntl.LOCK_EX)
            asyncio.get_running_loop().call_later(HELD_S, fcntl.flock, other, fcntl.LOCK_UN)
            started = time.monotonic()
            await db.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
            waited = time.monotonic() - started
        finally:
            os.close(other)
        assert waited >= HELD_S * 0.9, f"wrote after {waited:.3f}s while the turn was held"
        assert waited < HELD_S * 4, f"wrote {waited:.3f}s after a {HELD_S}s hold"
        assert await db.read(lambda c: c.execute("SELECT v FROM t").fetchall()) == [(1,)]
    finally:
        await db.close()


async def test_a_worker_write_defers_to_the_api_but_not_for_long(tmp_path: Path) -> None:
    """While the API's writer waits for the lock or writes (it holds ``-first`` shared),
    another process's write holds back, so a publish waits for at most the transaction
    under way; but never more than DEFER_MAX_S, so a stream of publishes cannot starve
    the worker."""
    path = str(tmp_path / "turns.db")
    worker = SqliteDatabase(path, "NORMAL")
    api = SqliteDatabase(path, "NORMAL", priority=True)
    await worker.open()
    await api.open()
    try:
        await worker.write(lambda c: c.execute("CREATE TABLE t (v INTEGER)"))
        publishing = os.open(path + "-first", os.O_RDWR)  # another API writer, waiting
        try:
            fcntl.flock(publishing, fcntl.LOCK_SH)
            started = time.monotonic()
            await worker.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
            deferred = time.monotonic() - started
            started = time.monotonic()
            await api.write(lambda c: c.execute("INSERT INTO t VALUES (2)"))
            undeferred = time.monotonic() - started
        finally:
            os.close(publishing)
        assert deferred >= DEFER_MAX_S * 0.9, f"wrote after {deferred:.4f}s, not deferring"
        assert deferred < DEFER_MAX_S * 25, f"deferred {deferred:.3f}s: unbounded"
        assert undeferred < deferred, (undeferred, deferred)
    finally:
        await api.close()
        await worker.close()
