"""The operator's overview: traffic over a range, the success rate, the endpoints that
fail and the queue. Every number comes from the store's aggregate verbs, which read
rollups, so the page costs the same with a million messages as with ten."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hookline.ui import charts
from hookline.ui.pages_apps import shown_url
from hookline.ui.render import render
from hookline.ui.session import config_of, now_ms, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
FAILING_SHOWN = 8


@router.get("/")
async def overview(
    request: Request,
    viewer: Annotated[Viewer, Depends(operator)],
    range: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    store = config_of(request).store
    span = charts.pick_range(range)
    now = now_ms()
    since, until = charts.window(now, span.span_ms, span.bucket_ms)
    buckets = await store.traffic(since, until, span.bucket_ms)
    messages, succeeded, failed = charts.totals(buckets)
    queue = await store.queue_summary(now)
    failing = await store.failing_endpoints(now - span.span_ms, now, FAILING_SHOWN)
    return render(
        request,
        "overview.html",
        viewer,
        title="Overview",
        nav="overview",
        ranges=charts.RANGES.values(),
        span=span,
        now=now,
        messages=messages,
        succeeded=succeeded,
        failed=failed,
        rate=charts.success_rate(succeeded, failed),
        queue=queue,
        failing=failing,
        shown_url=shown_url,
        outcome_chart=charts.outcome_bars(buckets),
        message_chart=charts.message_lines(buckets, "Messages"),
    )
