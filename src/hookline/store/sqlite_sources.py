"""Inbound sources in SQLite: each source and its application are written together."""

from __future__ import annotations

from hookline.models import Application, Page
from hookline.sources import Source
from hookline.store.base import PageRequest
from hookline.store.sqlite_base import SqliteBase


class SourceOps(SqliteBase):
    async def create_source(self, source: Source, app: Application) -> Source:
        raise NotImplementedError

    async def get_source(self, ref: str) -> Source:
        raise NotImplementedError

    async def source_by_token(self, token_hash: str) -> Source | None:
        raise NotImplementedError

    async def list_sources(self, page: PageRequest) -> Page[Source]:
        raise NotImplementedError

    async def update_source(self, source: Source) -> Source:
        raise NotImplementedError

    async def delete_source(self, source_id: str) -> None:
        raise NotImplementedError
