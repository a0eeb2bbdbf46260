"""What the API layer is handed by the composition root, and helpers every route uses."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from hookline.addresses import AddressPolicy
from hookline.errors import Unauthorized
from hookline.metrics import Metrics
from hookline.models import Page
from hookline.signing import generate_secret
from hookline.store.base import PageRequest, Store
from hookline.tracing import Tracing

MAX_PAGE_LIMIT = 250


class FrameChannel(Protocol):
    """An accepted WebSocket as text frames; ``receive`` raises once the socket closes."""

    async def send(self, frame: str) -> None: ...
    async def receive(self) -> str: ...


class TunnelHub(Protocol):
    """Serves a tunnel endpoint's deliveries to an attached listener (the delivery layer's
    ``Tunnels``, wired in by the composition root)."""

    async def attach(self, endpoint_id: str, channel: FrameChannel) -> None: ...


@dataclass(slots=True)
class ApiContext:
    store: Store
    admin_token: str
    max_payload_bytes: int = 1024 * 1024
    secret_rotation_grace_s: float = 24 * 3600.0
    health_timeout_s: float = 2.0  # a store slower than this to answer is unavailable
    # The worker's SSRF policy: endpoint URLs naming a refused address literal are 422.
    address_policy: AddressPolicy = field(default_factory=AddressPolicy)
    # Where providers reach this server: a source's ingestUrl is {public_url}/in/{token}.
    public_url: str = "http://127.0.0.1:8000"
    # Names of the actions the server's actions file declares: ``action://NAME`` URLs.
    action_names: frozenset[str] = frozenset()
    # Seconds a message's id must have aged before a poll hands it out (``poll_settle``).
    poll_settle_s: float = 5.0
    # The consumer portal's branding, which Svix's environment settings also report.
    portal_name: str = "hookline"
    portal_logo_url: str | None = None
    portal_color: str = "#4f46e5"
    # Where ``hookline listen`` sockets are served; None: tunnel endpoints cannot attach.
    tunnels: TunnelHub | None = None
    # A span per publish (the no-op one unless the composition root picks OpenTelemetry).
    tracing: Tracing = field(default_factory=Tracing)
    # Readiness: workers beat this often, and must have beaten within three beats.
    heartbeat_s: float = 5.0
    ready_require_worker: bool = True
    # Prometheus metrics (None: off); ``metrics_public`` serves /metrics without a token.
    metrics: Metrics | None = None
    metrics_public: bool = False

    def new_secret(self) -> str:
        return generate_secret()


async def get_context(request: Request) -> ApiContext:
    """Async on purpose, as every dependency here: FastAPI runs plain functions in a
    thread pool, which costs more than the whole handler."""
    ctx: ApiContext = request.app.state.context
    return ctx


def check_token(ctx: ApiContext, header: str) -> None:
    """Bearer-token check, compared in constant time; ``auth.TokenGate`` runs it for
    every API request before anything else."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    if not hmac.compare_digest(token.strip().encode(), ctx.admin_token.encode()):
        raise Unauthorized("invalid token")


Ctx = Annotated[ApiContext, Depends(get_context)]


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Iterator = Annotated[str | None, Query(max_length=256)]
Order = Annotated[str | None, Query(pattern="^(ascending|descending)$")]


async def page_request(
    limit: Limit = 50, iterator: Iterator = None, order: Order = None
) -> PageRequest:
    """Lists Svix orders ascending unless asked (applications, event types, ...). The
    iterator is checked by the store, which knows whose keys the list holds."""
    return PageRequest(limit=limit, iterator=iterator or None, reverse=order == "descending")


async def descending_page(
    limit: Limit = 50, iterator: Iterator = None, order: Order = None
) -> PageRequest:
    """Lists Svix orders newest first unless ``order=ascending`` (endpoints, logs)."""
    return PageRequest(limit=limit, iterator=iterator or None, reverse=order != "ascending")


async def newest_first_page(
    request: Request, limit: Limit = 50, iterator: Iterator = None
) -> PageRequest:
    """Messages and attempts list newest first, as Svix does. ``after=`` alone (the
    route declares it) starts at the oldest items after the cut and walks toward newer
    ones, returned newest first all the same: Svix's reading of ``after``."""
    query = request.query_params
    back = not iterator and "after" in query and "before" not in query
    return PageRequest(limit=limit, iterator=iterator or None, reverse=True, back=back)


Paging = Annotated[PageRequest, Depends(page_request)]
DescendingPaging = Annotated[PageRequest, Depends(descending_page)]
NewestFirst = Annotated[PageRequest, Depends(newest_first_page)]


L = TypeVar("L", bound=BaseModel)
T = TypeVar("T")


def list_out(cls: type[L], page: Page[T], convert: Callable[[T], Any]) -> L:
    """Svix's list envelope: ``data`` plus the iterators and ``done``."""
    return cls(
        data=[convert(item) for item in page.data],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_ms(value: datetime | None) -> int | None:
    """Query datetimes; a naive one is UTC (the Svix SDK sends naive values as-is)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
