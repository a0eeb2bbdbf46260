"""Svix's statistics that the insight rollups cannot answer alone: attempts by event
type (rollups count by endpoint and application, not by event type) and counts of
applications and endpoints."""

from __future__ import annotations

from hookline import ids
from hookline.models import OPERATIONAL_APP_ID
from hookline.store.insight_rollup import SUCCESS
from hookline.store.sql_base import SqlBase
from hookline.store.sql_conn import Conn
from hookline.store.sql_insights import unindexed


class StatsOps(SqlBase):
    async def attempts_by_event_type(
        self, app_id: str, since_ms: int, until_ms: int
    ) -> dict[str, tuple[int, int]]:
        """(successes, failures) per event type of the application's attempts made in
        ``[since_ms, until_ms)``: one range read of the attempt ids, joined to their
        messages by key."""

        def op(conn: Conn) -> dict[str, tuple[int, int]]:
            out: dict[str, list[int]] = {}
            for event_type, status, n in conn.execute(
                "SELECT m.event_type, a.status, COUNT(*) FROM attempt a"
                " JOIN message m ON m.id = a.msg_id"
                f" WHERE {unindexed(conn, 'a.app_id')} = ? AND a.id > ? AND a.id < ?"
                " AND a.created_at >= ? AND a.created_at < ?"
                " GROUP BY m.event_type, a.status",
                (
                    app_id,
                    ids.boundary_id("atmpt", since_ms),
                    ids.boundary_id("atmpt", until_ms),
                    since_ms,
                    until_ms,
                ),
            ):
                counts = out.setdefault(event_type, [0, 0])
                counts[0 if status == SUCCESS else 1] += int(n)
            return {k: (v[0], v[1]) for k, v in out.items()}

        return await self._read(op)

    async def count_active_apps(self, exclude_disabled: bool) -> int:
        """Applications with at least one endpoint (an enabled one, by default)."""
        enabled = " AND disabled = FALSE" if exclude_disabled else ""
        return await self._read(
            lambda c: int(
                c.execute(
                    f"SELECT COUNT(DISTINCT app_id) FROM endpoint WHERE app_id != ?{enabled}",
                    (OPERATIONAL_APP_ID,),
                ).fetchone()[0]
            )
        )

    async def endpoint_counts(self) -> tuple[int, int]:
        """(enabled, disabled) endpoints of every application."""

        def op(conn: Conn) -> tuple[int, int]:
            found = dict(
                conn.execute(
                    "SELECT disabled, COUNT(*) FROM endpoint WHERE app_id != ? GROUP BY disabled",
                    (OPERATIONAL_APP_ID,),
                ).fetchall()
            )
            counts = {bool(k): int(v) for k, v in found.items()}
            return counts.get(False, 0), counts.get(True, 0)

        return await self._read(op)
