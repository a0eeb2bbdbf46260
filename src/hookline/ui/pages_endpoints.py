"""An endpoint's page, for the operator (``/ui/app/{app}/endpoint/{ep}``) and for a
portal customer (``/portal/endpoint/{ep}``): one handler, one template.

What it shows comes from the store (stats, traffic by outcome and latency, the
endpoint's settings); what it changes goes through the REST API from the browser, and
each control is rendered only when the viewer's capabilities allow it, so a read-only
or limited portal session sees no control it could not use. An endpoint outside the
viewer's application is a 404 page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hookline.breaker import STATE_NAMES
from hookline.errors import NotFound
from hookline.models import MASKED, Application, Endpoint, is_secret_header
from hookline.store.base import PageRequest
from hookline.ui import charts
from hookline.ui.pages_apps import links, shown_url
from hookline.ui.render import render
from hookline.ui.session import config_of, customer, now_ms, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
portal_router = APIRouter()
EVENT_TYPES_OFFERED = 100  # the test-event form's suggestions
RangeKey = Annotated[str | None, Query(max_length=16)]


@router.get("/app/{app_id}/endpoint/{endpoint_id}")
async def operator_endpoint(
    request: Request,
    app_id: str,
    endpoint_id: str,
    viewer: Annotated[Viewer, Depends(operator)],
    range: RangeKey = None,
) -> Response:
    app = await config_of(request).store.get_application(app_id)
    return await endpoint_page(request, viewer, app, endpoint_id, range)


@portal_router.get("/endpoint/{endpoint_id}")
async def portal_endpoint(
    request: Request,
    endpoint_id: str,
    viewer: Annotated[Viewer, Depends(customer)],
    range: RangeKey = None,
) -> Response:
    assert viewer.scope.app_id is not None  # a portal session is always scoped
    app = await config_of(request).store.get_application(viewer.scope.app_id)
    return await endpoint_page(request, viewer, app, endpoint_id, range)


def shown_headers(endpoint: Endpoint) -> list[tuple[str, str]]:
    """Custom headers for display: a credential's value never reaches the page."""
    return sorted(
        (name, MASKED if is_secret_header(name) else value)
        for name, value in endpoint.headers.items()
    )


def controls(viewer: Viewer) -> dict[str, bool]:
    """Which actions this viewer may take (Svix's portal capabilities; read-only and
    capability rules live in ``access.Scope``)."""
    return {
        "manage": viewer.can("ManageEndpoint"),
        "view_secret": viewer.can("ViewEndpointSecret"),
        "rotate_secret": viewer.can("ManageEndpointSecret"),
        "attempts": viewer.can("CreateAttempts"),
        "poll_tasks": viewer.is_admin,  # the task API is the operator's
    }


async def endpoint_page(
    request: Request, viewer: Viewer, app: Application, endpoint_id: str, range_key: str | None
) -> Response:
    if not viewer.scope.sees(app.id):
        raise NotFound("no such endpoint")
    store = config_of(request).store
    endpoint = await store.get_endpoint(app.id, endpoint_id)  # NotFound: another app's
    now = now_ms()
    span = charts.pick_range(range_key)
    since, until = charts.window(now, span.span_ms, span.bucket_ms)
    buckets = await store.traffic(since, until, span.bucket_ms, endpoint_id=endpoint.id)
    deliveries, succeeded, failed = charts.totals(buckets)
    stats = await store.endpoint_stats(endpoint.id, now)
    allowed = controls(viewer)
    event_types: list[str] = []
    if allowed["attempts"]:
        page = await store.list_event_types(PageRequest(limit=EVENT_TYPES_OFFERED), False)
        event_types = [t.name for t in page.data]
    where = links(viewer, app.id)
    context: dict[str, Any] = {
        "app": app,
        "endpoint": endpoint,
        "url": shown_url(endpoint.url),
        "headers": shown_headers(endpoint),
        "stats": stats,
        "breaker": STATE_NAMES.get(stats.breaker_state, str(stats.breaker_state)),
        "span": span,
        "ranges": charts.RANGES.values(),
        "now": now,
        "deliveries": deliveries,
        "succeeded": succeeded,
        "failed": failed,
        "rate": charts.success_rate(succeeded, failed),
        "outcome_chart": charts.outcome_bars(buckets),
        "delivery_chart": charts.message_lines(buckets, "Deliveries"),
        "latency_chart": charts.latency_lines(buckets),
        "links": where,
        "href": f"{where['endpoint']}{endpoint.id}",
        "api": f"/api/v1/app/{app.id}/endpoint/{endpoint.id}",
        "allowed": allowed,
        "event_types": event_types,
    }
    return render(
        request,
        "endpoint.html",
        viewer,
        title=f"Endpoint {endpoint.id}",
        nav="apps" if viewer.is_admin else "endpoints",
        **context,
    )
