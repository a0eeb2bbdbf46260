"""Worker heartbeats: each worker process's row, refreshed while it runs.

The readiness probe asks for the newest one: a deployment whose workers have all
stopped (or cannot reach the database) answers "not ready" while the API still serves.
"""

from __future__ import annotations

from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn

# Rows of processes that died without saying so are dropped once this old.
STALE_MS = 3600 * 1000


class HeartbeatOps(SqlBase):
    async def beat(self, name: str, host: str, pid: int, now_ms: int) -> None:
        """Upsert this process's row (and drop rows a crash left an hour ago)."""

        def op(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO worker_heartbeat (name, host, pid, seen_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name, host, pid) DO UPDATE SET seen_at = excluded.seen_at",
                (name, host, pid, now_ms),
            )
            conn.execute("DELETE FROM worker_heartbeat WHERE seen_at < ?", (now_ms - STALE_MS,))

        await self._write(op)

    async def end_beat(self, name: str, host: str, pid: int) -> None:
        """A clean stop: the row goes, so readiness sees the worker gone at once."""

        def op(conn: Conn) -> None:
            conn.execute(
                "DELETE FROM worker_heartbeat WHERE name = ? AND host = ? AND pid = ?",
                (name, host, pid),
            )

        await self._write(op)

    async def last_beat(self) -> int | None:
        """The newest heartbeat's time (ms), or None when no worker has one."""

        def op(conn: Conn) -> int | None:
            row = conn.execute("SELECT MAX(seen_at) FROM worker_heartbeat").fetchone()
            return None if row is None or row[0] is None else int(row[0])

        return await self._read(op)
