"""Received requests in SQLite: intake, the dedup window, and the routing queue."""

from __future__ import annotations

from hookline.models import Page
from hookline.sources import InboundFilter, InboundRequest, Verdict
from hookline.store.base import PageRequest
from hookline.store.sqlite_base import SqliteBase


class InboundOps(SqliteBase):
    async def intake(self, request: InboundRequest, now_ms: int) -> InboundRequest:
        raise NotImplementedError

    async def unrouted_requests(self, limit: int) -> list[InboundRequest]:
        raise NotImplementedError

    async def mark_routed(
        self,
        request_id: str,
        now_ms: int,
        msg_id: str | None,
        verdict: Verdict | None = None,
        reason: str | None = None,
    ) -> None:
        raise NotImplementedError

    async def get_inbound_request(self, source_id: str, request_id: str) -> InboundRequest:
        raise NotImplementedError

    async def list_inbound_requests(
        self, source_id: str, flt: InboundFilter, page: PageRequest
    ) -> Page[InboundRequest]:
        raise NotImplementedError

    async def replay_inbound(self, source_id: str, request_id: str, now_ms: int) -> InboundRequest:
        raise NotImplementedError

    async def wait_for_inbound(self, timeout: float) -> None:
        raise NotImplementedError

    async def expire_inbound(self, before_ms: int, now_ms: int, limit: int) -> int:
        raise NotImplementedError
