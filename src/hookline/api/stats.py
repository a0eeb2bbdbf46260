"""Svix's statistics routes, read from the insight rollups (``Store.traffic``: folded
counts plus the rows not folded yet), so a range costs rollup rows, not attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from hookline.api.applications import AppRef
from hookline.api.context import Ctx, now_ms, to_datetime, to_ms
from hookline.api.endpoints import EpRef
from hookline.api.errors import field_error
from hookline.api.schemas_catalog import (
    ActiveAppCount,
    AppAttemptEventTypeStats,
    AppAttemptStatsOut,
    AttemptStatisticsData,
    AttemptStatisticsResponse,
    EndpointAttemptStatsOut,
    EndpointCountOut,
)
from hookline.api.strict_json import StrictJsonRoute

router = APIRouter(tags=["Statistics"], route_class=StrictJsonRoute)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MAX_RANGE_MS = 92 * DAY_MS
MAX_POINTS = 10_000
PERIODS = {"FiveMinutes": 5 * MINUTE_MS, "OneHour": HOUR_MS, "OneDay": DAY_MS}
When = Annotated[datetime | None, Query()]


def hour_range(since: datetime | None, until: datetime | None, default_ms: int) -> tuple[int, int]:
    """[since, until) widened to whole hours (UTC), as Svix rounds; refused when empty
    or longer than the rollups are worth reading at once."""
    hi = to_ms(until) or now_ms()
    lo = hi - default_ms if since is None else to_ms(since) or 0
    lo, hi = lo - lo % HOUR_MS, -(-hi // HOUR_MS) * HOUR_MS
    if lo < 0 or hi <= lo:
        raise field_error(["query", "since"], "since must be before until")
    if hi - lo > MAX_RANGE_MS:
        raise field_error(["query", "since"], "the range is longer than 92 days")
    return lo, hi


@router.get(
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/attempt-stats",
    response_model=EndpointAttemptStatsOut,
)
async def endpoint_attempt_stats(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, since: When = None, until: When = None
) -> EndpointAttemptStatsOut:
    """The endpoint's attempts in the range (default: the last 28 days)."""
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    lo, hi = hour_range(since, until, 28 * DAY_MS)
    buckets = await ctx.store.traffic(lo, hi, HOUR_MS, endpoint_id=ep.id)
    return EndpointAttemptStatsOut(
        success=sum(b.succeeded for b in buckets), fail=sum(b.failed for b in buckets)
    )


@router.get("/api/v1/app/{app_id}/stats/attempts", response_model=AppAttemptStatsOut)
async def app_attempt_stats(
    ctx: Ctx,
    app_id: AppRef,
    since: Annotated[datetime, Query()],
    until: Annotated[datetime, Query()],
) -> AppAttemptStatsOut:
    """Totals from the rollups; the split by event type from the range's attempts."""
    app = await ctx.store.get_application(app_id)
    lo, hi = hour_range(since, until, 0)
    buckets = await ctx.store.traffic(lo, hi, HOUR_MS, app_id=app.id)
    by_type = await ctx.store.attempts_by_event_type(app.id, lo, hi)
    return AppAttemptStatsOut(
        by_event_type={
            name: AppAttemptEventTypeStats(success=ok, failure=bad)
            for name, (ok, bad) in sorted(by_type.items())
        },
        total_success=sum(b.succeeded for b in buckets),
        total_failure=sum(b.failed for b in buckets),
        since=to_datetime(lo),
        until=to_datetime(hi),
    )


@router.get("/api/v1/stats/app/{app_id}/attempt", response_model=AttemptStatisticsResponse)
async def app_attempt_series(
    ctx: Ctx,
    app_id: AppRef,
    start_date: Annotated[datetime | None, Query(alias="startDate")] = None,
    end_date: Annotated[datetime | None, Query(alias="endDate")] = None,
    period: Annotated[str, Query(pattern="^(FiveMinutes|OneHour|OneDay)$")] = "OneDay",
) -> AttemptStatisticsResponse:
    """One point per period, oldest first (default: the last 28 days by day)."""
    app = await ctx.store.get_application(app_id)
    step = PERIODS[period]
    hi = to_ms(end_date) or now_ms()
    lo = hi - 28 * DAY_MS if start_date is None else to_ms(start_date) or 0
    lo, hi = lo - lo % step, -(-hi // step) * step
    if lo < 0 or hi <= lo:
        raise field_error(["query", "startDate"], "startDate must be before endDate")
    if hi - lo > MAX_RANGE_MS or (hi - lo) // step > MAX_POINTS:
        raise field_error(["query", "startDate"], "the range holds too many periods")
    buckets = await ctx.store.traffic(lo, hi, step, app_id=app.id)
    return AttemptStatisticsResponse(
        start_date=to_datetime(lo),
        end_date=to_datetime(hi),
        period=period,
        data=AttemptStatisticsData(
            success_count=[b.succeeded for b in buckets],
            failure_count=[b.failed for b in buckets],
            canceled_count=[0 for _ in buckets],
        ),
    )


@router.get("/api/v1/app/stats/count-active", response_model=ActiveAppCount)
async def count_active_apps(
    ctx: Ctx,
    exclude_disabled: Annotated[bool, Query()] = True,
    exclude_svix_play: Annotated[bool, Query()] = True,
) -> ActiveAppCount:
    """Applications with at least one endpoint (enabled, unless ``exclude_disabled``
    is false)."""
    return ActiveAppCount(count=await ctx.store.count_active_apps(exclude_disabled))


@router.get("/api/v1/stats/endpoint/count", response_model=EndpointCountOut)
async def endpoint_count(
    ctx: Ctx,
    exclude_svix_play: Annotated[bool, Query()] = True,
) -> EndpointCountOut:
    active, disabled = await ctx.store.endpoint_counts()
    return EndpointCountOut(active=active, disabled=disabled)
