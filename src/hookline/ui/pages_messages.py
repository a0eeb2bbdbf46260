"""The message log and the message page, for the operator and the portal customer.

One handler per page serves both audiences: the viewer's scope decides which application
it may see (another application's message is a 404, as if it did not exist) and whether
the resend buttons appear. Every read is one of the store's paginated verbs, so the log
stays as fast on a million messages as on ten."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hookline.errors import ApiError, NotFound
from hookline.models import Delivery, DeliveryStatus, Endpoint, Message, MessageSearch
from hookline.store.base import AttemptFilter, PageRequest
from hookline.ui.pages_apps import page_or_first
from hookline.ui.render import render
from hookline.ui.session import config_of, customer, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
portal_router = APIRouter()

PAGE_SIZE = 50
ATTEMPTS_SHOWN = 100  # a message's attempts on its page, newest first
ENDPOINTS_NAMED = 50  # deliveries whose endpoint URL is looked up
STATUS_NAMES = {s.name.lower(): s for s in DeliveryStatus}
BADGE = {
    DeliveryStatus.SUCCESS: "ok",
    DeliveryStatus.FAILED: "fail",
    DeliveryStatus.PENDING: "warn",
    DeliveryStatus.SENDING: "info",
    DeliveryStatus.CANCELED: "warn",
}
Text = Annotated[str | None, Query(max_length=256)]


class BadFilter(ApiError):
    code = "bad_filter"


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The log's filters as the form sends them (empty fields are no filter)."""

    event_type: str | None = None
    status: str | None = None
    endpoint: str | None = None
    since: str | None = None
    until: str | None = None
    ref: str | None = None
    text: str | None = None
    app: str | None = None
    iterator: str | None = None

    def search(self, endpoint_id: str | None) -> MessageSearch:
        status = None
        if self.status:
            status = STATUS_NAMES.get(self.status.lower())
            if status is None:
                raise BadFilter(f"unknown status {self.status!r}")
        types = [t.strip() for t in (self.event_type or "").split(",") if t.strip()]
        return MessageSearch(
            event_types=types or None,
            status=status,
            endpoint_id=endpoint_id,
            since_ms=parse_time(self.since),
            until_ms=parse_time(self.until),
            ref=(self.ref or "").strip() or None,
            text=self.text or None,
        )

    def link(self, **changes: str | None) -> str:
        """This query string with some fields changed (the pager's links)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(changes)
        return "?" + urlencode({k: v for k, v in fields.items() if v})


def log_query(
    event_type: Text = None,
    status: Text = None,
    endpoint: Text = None,
    since: Text = None,
    until: Text = None,
    ref: Text = None,
    text: Text = None,
    app: Text = None,
    iterator: Text = None,
) -> LogQuery:
    return LogQuery(event_type, status, endpoint, since, until, ref, text, app, iterator)


Filters = Annotated[LogQuery, Depends(log_query)]


def parse_time(value: str | None) -> int | None:
    """A ``datetime-local`` field (read as UTC) or an ISO 8601 time with an offset."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadFilter(f"not a date and time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def pretty(raw: bytes | None) -> str | None:
    """A payload as indented JSON; bytes that are not JSON are shown as they are."""
    if raw is None:
        return None
    try:
        return orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


async def _message_log(
    request: Request, viewer: Viewer, q: LogQuery, app_id: str | None
) -> Response:
    store = config_of(request).store
    app = None
    if app_id is None and q.app:
        app_id = q.app
    if app_id is not None:
        app = await store.get_application(app_id)
        if not viewer.scope.sees(app.id):
            raise NotFound("no such application")
        app_id = app.id
    endpoint_id = None
    if q.endpoint:
        endpoint_id = (
            (await store.get_endpoint(app_id, q.endpoint)).id if app_id else q.endpoint.strip()
        )
    page = await page_or_first(
        lambda p: store.search_messages(q.search(endpoint_id), p, app_id=app_id),
        PageRequest(limit=PAGE_SIZE, iterator=q.iterator),
    )
    # a page reached backwards (an iterator from ``prev_iterator``) is "done" when
    # nothing newer is left; one reached forwards when nothing older is
    back = bool(q.iterator and q.iterator.startswith("-"))
    newer = page.prev_iterator if (not page.done if back else q.iterator) else None
    older = page.iterator if (back or not page.done) else None
    # each row's delivery statuses: one indexed read per message of the page
    statuses = {m.id: await status_counts(request, m) for m in page.data}
    return render(
        request,
        "messages.html",
        viewer,
        title="Messages",
        nav="messages",
        app=app,
        q=q,
        page=page,
        row_statuses=statuses,
        newer=newer,
        older=older,
        statuses=[s.name.lower() for s in DeliveryStatus],
        action=request.url.path,
        msg_link=lambda m: msg_href(viewer, m.app_id, m.id),
        badge=badge,
    )


async def status_counts(request: Request, msg: Message) -> list[tuple[DeliveryStatus, int]]:
    counts: dict[DeliveryStatus, int] = {}
    for delivery in await config_of(request).store.list_deliveries(msg.app_id, msg.id):
        counts[delivery.status] = counts.get(delivery.status, 0) + 1
    return sorted(counts.items())


def msg_href(viewer: Viewer, app_id: str, msg_id: str) -> str:
    if viewer.is_admin:
        return f"/ui/app/{app_id}/msg/{msg_id}"
    return f"/portal/msg/{msg_id}"


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery: Delivery
    endpoint: Endpoint | None


async def _message_page(request: Request, viewer: Viewer, app_ref: str, msg_id: str) -> Response:
    store = config_of(request).store
    app = await store.get_application(app_ref)
    if not viewer.scope.sees(app.id):
        raise NotFound("no such message")
    msg = await store.get_message(app.id, msg_id)
    deliveries = await store.list_deliveries(app.id, msg.id)
    attempts = (
        await store.list_attempts(
            app.id, AttemptFilter(), PageRequest(limit=ATTEMPTS_SHOWN, reverse=True), msg_id=msg.id
        )
    ).data
    rows = []
    for i, delivery in enumerate(deliveries):
        endpoint = None
        if i < ENDPOINTS_NAMED:
            try:
                endpoint = await store.get_endpoint(app.id, delivery.endpoint_id)
            except NotFound:
                endpoint = None  # deleted since
        rows.append(DeliveryRow(delivery, endpoint))
    can_resend = viewer.can("CreateAttempts") and msg.payload is not None
    return render(
        request,
        "message.html",
        viewer,
        title=f"Message {msg.id}",
        nav="messages",
        app=app,
        msg=msg,
        payload=pretty(msg.payload),
        sent_body=None if msg.payload is None else msg.payload.decode("utf-8", "replace"),
        rows=rows,
        attempts=attempts,
        can_resend=can_resend,
        badge=badge,
        page_data={"app": app.id, "msg": msg.id, "attempts": len(attempts)},
    )


def badge(status: DeliveryStatus) -> str:
    return BADGE.get(status, "info")


@router.get("/messages")
async def operator_log(
    request: Request, viewer: Annotated[Viewer, Depends(operator)], q: Filters
) -> Response:
    return await _message_log(request, viewer, q, None)


@router.get("/app/{app_id}/messages")
async def operator_app_log(
    request: Request, app_id: str, viewer: Annotated[Viewer, Depends(operator)], q: Filters
) -> Response:
    return await _message_log(request, viewer, q, app_id)


@router.get("/app/{app_id}/msg/{msg_id}")
async def operator_message(
    request: Request, app_id: str, msg_id: str, viewer: Annotated[Viewer, Depends(operator)]
) -> Response:
    return await _message_page(request, viewer, app_id, msg_id)


@portal_router.get("/messages")
async def portal_log(
    request: Request, viewer: Annotated[Viewer, Depends(customer)], q: Filters
) -> Response:
    assert viewer.scope.app_id is not None
    return await _message_log(request, viewer, replace(q, app=None), viewer.scope.app_id)


@portal_router.get("/msg/{msg_id}")
async def portal_message(
    request: Request, msg_id: str, viewer: Annotated[Viewer, Depends(customer)]
) -> Response:
    assert viewer.scope.app_id is not None
    return await _message_page(request, viewer, viewer.scope.app_id, msg_id)
