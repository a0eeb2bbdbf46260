"""The SQLite store: the default backend, one machine, WAL mode, group commits."""

from __future__ import annotations

from pathlib import Path

from hookline.signing.at_rest import SecretBox
from hookline.store.sql_store import SqlStore
from hookline.store.sqlite_db import SqliteDatabase
from hookline.store.wakeup import SocketFolderChannel


class SqliteStore(SqlStore):
    """Implements ``hookline.store.base.Store`` on one SQLite file; the processes on one
    data folder wake each other through its socket folder."""

    def __init__(
        self,
        path: str,
        synchronous: str = "FULL",
        *,
        box: SecretBox,
        wake_dir: Path | None = None,
        priority_writes: bool = False,
    ) -> None:
        db = SqliteDatabase(path, synchronous, priority=priority_writes)
        super().__init__(
            db, box=box, peers=None if wake_dir is None else SocketFolderChannel(wake_dir)
        )
