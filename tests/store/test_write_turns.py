"""Processes writing one SQLite file take turns through the ``-lock`` file: a write waits
while another process holds it and goes ahead as soon as it is released."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

from hookline.store.sqlite_db import SqliteDatabase

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
