"""The store on SQL: every verb, whichever database runs them."""

from __future__ import annotations

from hookline.errors import StoreError
from hookline.store.sql_access import AccessOps
from hookline.store.sql_attempted import AttemptedOps
from hookline.store.sql_catalog import CatalogOps
from hookline.store.sql_conn import Conn
from hookline.store.sql_engine import EngineOps
from hookline.store.sql_expunge import ExpungeOps
from hookline.store.sql_fanout import FanoutOps
from hookline.store.sql_heartbeat import HeartbeatOps
from hookline.store.sql_idempotency import IdempotencyOps
from hookline.store.sql_inbound import InboundOps
from hookline.store.sql_insights import InsightOps
from hookline.store.sql_keys import KeyOps
from hookline.store.sql_messages import MessageOps
from hookline.store.sql_metrics import MetricsOps
from hookline.store.sql_poll import PollOps
from hookline.store.sql_sources import SourceOps
from hookline.store.sql_stats import StatsOps
from hookline.store.sql_tasks import TaskOps
from hookline.store.sql_upkeep import UpkeepOps


class SqlStore(
    AccessOps,
    KeyOps,
    MessageOps,
    EngineOps,
    FanoutOps,
    TaskOps,
    UpkeepOps,
    IdempotencyOps,
    SourceOps,
    InboundOps,
    CatalogOps,
    InsightOps,
    MetricsOps,
    PollOps,
    AttemptedOps,
    ExpungeOps,
    StatsOps,
    HeartbeatOps,
):
    """Implements ``hookline.store.base.Store``; a backend supplies the ``Database`` and
    the channel its processes wake each other through."""

    async def ping(self) -> None:
        """A read answers, and so does a write (a lock held by another process, or a
        writer or server that is gone, shows up here)."""

        def probe(conn: Conn) -> None:
            conn.execute("SELECT 1").fetchone()

        try:
            await self._read(probe)
            await self._write(probe)
        except StoreError:
            raise
        except Exception as exc:  # a closed store: its connections and threads are gone
            raise StoreError(f"the store is not open: {exc!r}") from exc
