"""Applications and their endpoint lists: the operator's ``/ui/apps`` and
``/ui/app/{app}``, and the portal's home (its one application's endpoints).

The endpoint list is one handler and one template for both audiences; the viewer decides
the links and which controls show. Lists walk the store's keyset pages (``?iterator=``
forward, ``?before=`` back), and the health of a page's endpoints is one
``endpoint_health`` call for that page's ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hookline.addresses import shown_url
from hookline.errors import ValidationFailed
from hookline.models import Application, Page
from hookline.store.base import PageRequest
from hookline.ui import charts
from hookline.ui.render import render
from hookline.ui.session import config_of, customer, now_ms, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
portal_router = APIRouter()
PAGE_SIZE = 20
T = TypeVar("T")

Search = Annotated[str | None, Query(max_length=256)]
Cursor = Annotated[str | None, Query(max_length=256)]


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    items: list[T]
    next: str | None  # ?iterator= for the page after
    prev: str | None  # ?before= for the page before


async def page_or_first(
    fetch: Callable[[PageRequest], Awaitable[Page[T]]], page: PageRequest
) -> Page[T]:
    """A cursor the store refuses (hand-edited, or another list's) shows the first page,
    as the pages answer any hostile query value; the API answers it 422."""
    try:
        return await fetch(page)
    except ValidationFailed:
        return await fetch(replace(page, iterator=None))


async def paged(
    fetch: Callable[[PageRequest], Awaitable[Page[T]]],
    key: Callable[[T], str],
    iterator: str | None,
    before: str | None,
    limit: int = PAGE_SIZE,
) -> Paged[T]:
    """One page of an id-ordered listing, forward from ``iterator`` or back from
    ``before`` (the store walks toward older ids, and the page is turned round)."""
    if before:
        page = await page_or_first(fetch, PageRequest(limit=limit, iterator=before, reverse=True))
        items = list(reversed(page.data))
        return Paged(
            items,
            next=key(items[-1]) if items else None,
            prev=None if page.done or not items else key(items[0]),
        )
    page = await page_or_first(fetch, PageRequest(limit=limit, iterator=iterator))
    items = page.data
    return Paged(
        items,
        next=None if page.done or not items else key(items[-1]),
        prev=key(items[0]) if iterator and items else None,
    )


def search_suffix(q: str | None) -> str:
    return f"&q={quote(q)}" if q else ""


@router.get("/apps")
async def applications(
    request: Request,
    viewer: Annotated[Viewer, Depends(operator)],
    q: Search = None,
    iterator: Cursor = None,
    before: Cursor = None,
) -> Response:
    store = config_of(request).store
    search = (q or "").strip() or None

    async def fetch(page: PageRequest) -> Page[Application]:
        return await store.list_applications(page, search=search)

    apps = await paged(fetch, lambda a: a.id, iterator, before)
    return render(
        request,
        "apps.html",
        viewer,
        title="Applications",
        nav="apps",
        apps=apps,
        q=search or "",
        extra=search_suffix(search),
    )


@router.get("/app/{app_id}")
async def application(
    request: Request,
    app_id: str,
    viewer: Annotated[Viewer, Depends(operator)],
    q: Search = None,
    iterator: Cursor = None,
    before: Cursor = None,
) -> Response:
    app = await config_of(request).store.get_application(app_id)
    return await endpoint_list(request, viewer, app, q, iterator, before)


@portal_router.get("/")
async def portal_home(
    request: Request,
    viewer: Annotated[Viewer, Depends(customer)],
    q: Search = None,
    iterator: Cursor = None,
    before: Cursor = None,
) -> Response:
    assert viewer.scope.app_id is not None  # a portal session is always scoped
    app = await config_of(request).store.get_application(viewer.scope.app_id)
    return await endpoint_list(request, viewer, app, q, iterator, before)


def links(viewer: Viewer, app_id: str) -> dict[str, str]:
    """Where this viewer's pages of an application live."""
    if viewer.is_admin:
        return {
            "list": f"/ui/app/{app_id}",
            "endpoint": f"/ui/app/{app_id}/endpoint/",
            "messages": f"/ui/app/{app_id}/messages",
            "message": f"/ui/app/{app_id}/msg/",
        }
    return {
        "list": "/portal/",
        "endpoint": "/portal/endpoint/",
        "messages": "/portal/messages",
        "message": "/portal/msg/",
    }


async def endpoint_list(
    request: Request,
    viewer: Viewer,
    app: Application,
    q: str | None,
    iterator: str | None,
    before: str | None,
) -> Response:
    store = config_of(request).store
    search = (q or "").strip() or None

    async def fetch(page: PageRequest) -> Any:
        return await store.list_endpoints(app.id, page, search=search)

    endpoints = await paged(fetch, lambda e: e.id, iterator, before)
    now = now_ms()
    since, until = charts.window(now, charts.SPARK_SPAN_MS, charts.SPARK_BUCKET_MS)
    health = await store.endpoint_health(
        [e.id for e in endpoints.items], since, until, charts.SPARK_BUCKET_MS
    )
    rows = []
    for ep in endpoints.items:
        h = health.get(ep.id)
        rows.append(
            {
                "endpoint": ep,
                "breaker_open": h.breaker_open if h else False,
                "succeeded": h.succeeded if h else 0,
                "failed": h.failed if h else 0,
                "rate": charts.success_rate(h.succeeded, h.failed) if h else None,
                "spark": charts.sparkline(h, since, charts.SPARK_BUCKET_MS) if h else None,
            }
        )
    return render(
        request,
        "endpoints.html",
        viewer,
        title=app.name if viewer.is_admin else "Endpoints",
        nav="apps" if viewer.is_admin else "endpoints",
        app=app,
        rows=rows,
        endpoints=endpoints,
        links=links(viewer, app.id),
        q=search or "",
        extra=search_suffix(search),
        can_manage=viewer.can("ManageEndpoint"),
        shown_url=shown_url,
    )
