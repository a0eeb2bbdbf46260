"""Inbound sources (operator only): where providers' webhooks arrive, the request log
with intake's verdicts, and replay (through the ingest API, like every change)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from hookline.sources import (
    INTAKE_PREFIX,
    InboundFilter,
    InboundRequest,
    Source,
    Verdict,
    shown_headers,
)
from hookline.store.base import PageRequest
from hookline.ui.pages_apps import page_or_first
from hookline.ui.pages_messages import BadFilter
from hookline.ui.render import render
from hookline.ui.session import config_of, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
PAGE_SIZE = 50
RECENT = 100  # the list's counts are of each source's latest requests: one bounded read
Iterator = Annotated[str | None, Query(max_length=256)]
SourceRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_.-]+$")]
VERDICT_BADGE = {
    Verdict.ACCEPTED: "ok",
    Verdict.REJECTED: "fail",
    Verdict.DUPLICATE: "warn",
    Verdict.CHALLENGE: "info",
    Verdict.REPLAY: "info",
}


def ingest_url(request: Request, source: Source) -> str:
    return config_of(request).public_url.rstrip("/") + INTAKE_PREFIX + source.token


def body_text(req: InboundRequest) -> str | None:
    if req.body is None:
        return None
    return req.body.decode("utf-8", "replace")


@router.get("/sources")
async def source_list(
    request: Request, viewer: Annotated[Viewer, Depends(operator)], iterator: Iterator = None
) -> Response:
    store = config_of(request).store
    page = await page_or_first(store.list_sources, PageRequest(limit=PAGE_SIZE, iterator=iterator))
    counts: dict[str, Counter[str]] = {}
    for source in page.data:
        recent = await store.list_inbound_requests(
            source.id, InboundFilter(), PageRequest(limit=RECENT, reverse=True)
        )
        counts[source.id] = Counter(r.verdict.value for r in recent.data)
    return render(
        request,
        "sources.html",
        viewer,
        title="Sources",
        nav="sources",
        page=page,
        iterator=iterator,
        counts=counts,
        recent=RECENT,
        verdicts=[v.value for v in Verdict],
        ingest_url=lambda s: ingest_url(request, s),
    )


@router.get("/sources/{source_id}")
async def source_page(
    request: Request,
    source_id: SourceRef,
    viewer: Annotated[Viewer, Depends(operator)],
    iterator: Iterator = None,
    verdict: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    store = config_of(request).store
    source = await store.get_source(source_id)
    wanted = None
    if verdict:
        try:
            wanted = Verdict(verdict)
        except ValueError:
            raise BadFilter(f"unknown verdict {verdict!r}") from None
    page = await page_or_first(
        lambda p: store.list_inbound_requests(source.id, InboundFilter(verdict=wanted), p),
        PageRequest(limit=PAGE_SIZE, iterator=iterator, reverse=True),
    )
    return render(
        request,
        "source.html",
        viewer,
        title=f"Source {source.name}",
        nav="sources",
        source=source,
        url=ingest_url(request, source),
        page=page,
        iterator=iterator,
        verdict=verdict or "",
        verdicts=[v.value for v in Verdict],
        badge=lambda v: VERDICT_BADGE.get(v, "info"),
        headers_of=lambda r: shown_headers(source, r.headers),
        body_of=body_text,
    )
