"""``GET /metrics`` and the API's request metrics, as plain ASGI outside everything.

The scrape sits outside ``/api/v1`` (it is no Svix route and not in the OpenAPI
document) and checks its own credential with the API's gate: the admin token, a
dashboard session or a server-wide key; an application-scoped key or portal token is
403. ``HOOKLINE_METRICS_PUBLIC=true`` opens it (a scraper on a private network).

Requests are labelled by route template, never by raw path: the router writes the route
it matched into the scope; the fast publish path names its route; whatever matched no
route is ``other``. The queue and endpoint gauges are read from the store at most once a
``gauge_ttl_s``, whatever the number of scrapers.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api.auth import Forbidden, TokenGate
from hookline.api.context import ApiContext
from hookline.api.errors import api_error_response, store_error_response
from hookline.errors import NotFound, StoreError, Unauthorized
from hookline.metrics import CONTENT_TYPE, OTHER_ROUTE, Metrics
from hookline.models import QueueGauges
from hookline.store.base import Store

log = logging.getLogger("hookline.api")

METRICS_PATH = "/metrics"
ROUTE_KEY = "hookline.route"  # a route template set by handlers outside the router
GAUGE_TTL_S = 2.0


class GaugeCache:
    """One store read at a time, its answer reused for ``ttl_s``."""

    def __init__(self, store: Store, ttl_s: float = GAUGE_TTL_S) -> None:
        self._store, self._ttl_s = store, ttl_s
        self._value: QueueGauges | None = None
        self._read_at = 0.0
        self._running: asyncio.Future[QueueGauges | None] | None = None
        self.reads = 0

    async def get(self) -> QueueGauges | None:
        if self._value is not None and time.monotonic() - self._read_at < self._ttl_s:
            return self._value
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._running)

    async def _read(self) -> QueueGauges | None:
        self.reads += 1
        try:
            self._value = await self._store.queue_gauges(int(time.time() * 1000))
        except StoreError as exc:  # the counters are still worth serving
            log.warning("metrics: the store did not answer for the queue gauges: %s", exc)
            self._value = None
            return None
        self._read_at = time.monotonic()
        return self._value


_Template = tuple[re.Pattern[str], str, "frozenset[str] | None"]


def _templates(routes: Iterable[Any]) -> Iterator[_Template]:
    """(path regex, template, methods) of every route, those of included routers too;
    a mount matches its whole subtree under its own path."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                if isinstance(ctx.path_regex, re.Pattern):
                    yield ctx.path_regex, str(ctx.path_format), _methods(ctx)
        elif isinstance(route, Mount):
            yield re.compile("^" + re.escape(route.path) + "(/|$)"), route.path, None
        elif isinstance(getattr(route, "path_regex", None), re.Pattern):
            yield route.path_regex, str(route.path_format), _methods(route)


def _methods(route: Any) -> frozenset[str] | None:
    methods = getattr(route, "methods", None)
    return None if methods is None else frozenset(methods)


class MetricsMiddleware:
    """Serves ``/metrics``; counts and times every other HTTP request by route."""

    def __init__(
        self, app: ASGIApp, context: ApiContext, metrics: Metrics, routes: list[BaseRoute]
    ) -> None:
        self.app = app
        self.context = context
        self.metrics = metrics
        self.routes = routes  # the app's, read per request: mounts added later count
        self.gate = TokenGate(app, context)
        self.gauges = GaugeCache(context.store)
        self._templates: list[_Template] | None = None  # built at the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH and scope["method"] in ("GET", "HEAD"):
            await self.scrape(scope, receive, send)
            return
        status = 500  # an exception out of the app is answered 500 by the server

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.record_api_request(
                self.route_of(scope), status, time.perf_counter() - started
            )

    def route_of(self, scope: Scope) -> str:
        named = scope.get(ROUTE_KEY)
        if named is not None:
            return str(named)
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            if isinstance(route, Mount):
                return path
            # a route of a mounted app (/ui, /portal): the mount's path first
            return str(scope.get("root_path", "")) + path
        # a middleware answered first (401, 413) or copied the scope: match it here
        if self._templates is None:
            self._templates = list(_templates(self.routes))
        path, method = scope["path"], scope["method"]
        partial = None
        for regex, template, methods in self._templates:
            if regex.match(path):
                if methods is None or method in methods:
                    return template
                partial = partial or template
        return partial or OTHER_ROUTE

    async def scrape(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.context.metrics_public:
            scope.setdefault("state", {})
            try:
                access = await self.gate.caller(scope)
                if not access.is_admin:
                    raise Forbidden("metrics need the admin token or a server-wide key")
            except (Unauthorized, NotFound) as exc:
                await api_error_response(exc)(scope, receive, send)
                return
            except StoreError as exc:
                await store_error_response(exc)(scope, receive, send)
                return
        body = self.metrics.exposition(await self.gauges.get())
        headers = [
            (b"content-type", CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})
