"""What a source received: Svix's log, and hookline's raw requests with their replay.

``/log`` answers in Svix's ``IngestLogOut`` shape. ``/request`` (a hookline extension)
lists the stored requests in full, filtered by verdict and time, and ``/replay`` queues
one to be verified and routed again by the inbound router.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path

from hookline.api.context import Ctx, DescendingPaging, list_out, now_ms, to_datetime, to_ms
from hookline.api.ingest_schemas import (
    InboundRequestOut,
    IngestLogOut,
    ListInboundRequestOut,
    ListIngestLogOut,
)
from hookline.api.ingest_sources import PREFIX, SourceRef
from hookline.api.strict_json import StrictJsonRoute
from hookline.sources import InboundFilter, InboundRequest, Source, Verdict, shown_headers

router = APIRouter(prefix=PREFIX, tags=["Ingest Source"], route_class=StrictJsonRoute)
RequestRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_]+$")]


LogPage = DescendingPaging
_MAX_MS = (1 << 48) - 1  # what an id's timestamp can hold


def _clamped(value: datetime | None) -> int | None:
    ms = to_ms(value)
    return None if ms is None else min(max(ms, 0), _MAX_MS)


def body_text(body: bytes | None) -> tuple[str | None, str | None]:
    """The body and how it is written: as text if it is UTF-8, else base64."""
    if body is None:
        return None, None
    try:
        return body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def log_out(source: Source, req: InboundRequest) -> IngestLogOut:
    return IngestLogOut(
        id=req.id,
        source_id=req.source_id,
        status_code=req.status_code,
        error_text=req.reason or "",
        headers=shown_headers(source, req.headers),
        payload=(req.body or b"").decode("utf-8", "replace"),
        verdict=req.verdict.value,
        event_type=req.event_type,
        msg_id=req.msg_id,
        created_at=to_datetime(req.received_at),
        updated_at=to_datetime(req.routed_at or req.received_at),
    )


def request_out(source: Source, req: InboundRequest) -> InboundRequestOut:
    body, encoding = body_text(req.body)
    return InboundRequestOut(
        id=req.id,
        source_id=req.source_id,
        method=req.method,
        path=req.path,
        query=req.query,
        headers=shown_headers(source, req.headers),
        body=body,
        body_encoding=encoding,
        verdict=req.verdict.value,
        reason=req.reason,
        status_code=req.status_code,
        event_type=req.event_type,
        dedup_key=req.dedup_key,
        msg_id=req.msg_id,
        replays=req.replays,
        received_at=to_datetime(req.received_at),
        routed_at=None if req.routed_at is None else to_datetime(req.routed_at),
    )


@router.get("/{source_id}/log", response_model=ListIngestLogOut)
async def list_log(ctx: Ctx, source_id: SourceRef, page: LogPage) -> ListIngestLogOut:
    source = await ctx.store.get_source(source_id)
    result = await ctx.store.list_inbound_requests(source.id, InboundFilter(), page)
    return list_out(ListIngestLogOut, result, lambda r: log_out(source, r))


@router.get("/{source_id}/request", response_model=ListInboundRequestOut)
async def list_requests(
    ctx: Ctx,
    source_id: SourceRef,
    page: LogPage,
    verdict: Verdict | None = None,
    before: datetime | None = None,
    after: datetime | None = None,
) -> ListInboundRequestOut:
    source = await ctx.store.get_source(source_id)
    flt = InboundFilter(verdict=verdict, before_ms=_clamped(before), after_ms=_clamped(after))
    result = await ctx.store.list_inbound_requests(source.id, flt, page)
    return list_out(ListInboundRequestOut, result, lambda r: request_out(source, r))


@router.get("/{source_id}/request/{request_id}", response_model=InboundRequestOut)
async def get_request(ctx: Ctx, source_id: SourceRef, request_id: RequestRef) -> InboundRequestOut:
    source = await ctx.store.get_source(source_id)
    return request_out(source, await ctx.store.get_inbound_request(source.id, request_id))


@router.post(
    "/{source_id}/request/{request_id}/replay", status_code=202, response_model=InboundRequestOut
)
async def replay_request(
    ctx: Ctx, source_id: SourceRef, request_id: RequestRef
) -> InboundRequestOut:
    """Queued: the inbound router verifies the stored request again (with the source's
    config as it is now) and routes it as a new message if it passes."""
    source = await ctx.store.get_source(source_id)
    queued = await ctx.store.replay_inbound(source.id, request_id, now_ms())
    return request_out(source, queued)
