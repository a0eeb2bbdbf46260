"""The API's ASGI app: routers, auth, error rendering, request-size limit."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api import (
    api_keys,
    applications,
    endpoints,
    endpoints_example,
    environment,
    event_type_openapi,
    event_types,
    ingest_endpoints,
    ingest_requests,
    ingest_sources,
    integrations,
    message_ops,
    message_views,
    messages,
    operational,
    poller,
    portal_access,
    readiness,
    recovery,
    stats,
    tunnel,
)
from hookline.api.auth import TokenGate
from hookline.api.context import ApiContext
from hookline.api.errors import install_error_handlers, store_error_response
from hookline.api.fast_publish import FastPublish
from hookline.api.idempotency import IdempotencyMiddleware
from hookline.api.metrics_route import MetricsMiddleware
from hookline.errors import StoreError
from hookline.store.base import Store

health = APIRouter(tags=["Health"])


@health.get(
    "/api/v1/health",
    status_code=204,
    responses={503: {"description": "the store does not answer"}},
)
@health.head("/api/v1/health", status_code=204, operation_id="head_health")
async def get_health(request: Request) -> Response:
    """Unauthenticated on purpose: load balancers probe it, and it reveals nothing.
    204 only if the store served a read and a write in time: a store that fails makes
    every publish fail, and the probe must say so."""
    probe: HealthProbe = request.app.state.health
    failure = await probe.check()
    return Response(status_code=204) if failure is None else store_error_response(failure)


@health.get("/api/v1/health/ping", status_code=204)
@health.head("/api/v1/health/ping", status_code=204, operation_id="head_ping")
async def ping() -> Response:
    """The process answers: no store round trip (``/api/v1/health`` checks the store)."""
    return Response(status_code=204)


class HealthProbe:
    """One store probe at a time, and a healthy answer reused for a second: anyone may call
    the health route, so a flood of probes must not become a flood of store round trips.
    A failure is not reused, so recovery shows at the next probe."""

    def __init__(self, store: Store, timeout_s: float, reuse_s: float = 1.0) -> None:
        self._store, self._timeout_s, self._reuse_s = store, timeout_s, reuse_s
        self._healthy_at: float | None = None
        self._running: asyncio.Future[StoreError | None] | None = None

    async def check(self) -> StoreError | None:
        if self._healthy_at is not None and time.monotonic() - self._healthy_at < self._reuse_s:
            return None
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._probe())
        return await asyncio.shield(self._running)

    async def _probe(self) -> StoreError | None:
        try:
            await asyncio.wait_for(self._store.ping(), self._timeout_s)
            failure = None
        except StoreError as exc:
            failure = exc
        except TimeoutError:
            failure = StoreError(f"no answer in {self._timeout_s}s")
        self._healthy_at = time.monotonic() if failure is None else None
        return failure


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="hookline",
        version="0.1.0",
        description="Svix-compatible webhook sending API.",
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry hooks check their providers on every request;
        # off until hookline exposes metrics of its own.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.context = context
    app.state.health = HealthProbe(context.store, context.health_timeout_s)
    install_error_handlers(app)
    app.include_router(health)
    app.include_router(readiness.router)
    for module in (applications, event_types, endpoints, messages, recovery, operational):
        app.include_router(module.router)
    app.include_router(endpoints_example.router)
    app.include_router(message_views.router)
    app.include_router(message_ops.router)
    app.include_router(event_type_openapi.router)
    app.include_router(stats.router)
    app.include_router(portal_access.router)
    app.include_router(poller.router)
    app.include_router(api_keys.router)
    app.include_router(integrations.router)
    app.include_router(environment.router)
    app.include_router(tunnel.router)
    for module in (ingest_sources, ingest_requests, ingest_endpoints):
        app.include_router(module.router)
    app.add_middleware(FastPublish, context=context)
    app.add_middleware(IdempotencyMiddleware, store=context.store)
    app.add_middleware(JsonByDefault)
    # The token before anything reads a body or stores a key; the health routes are open.
    public = {route.path for route in health.routes if isinstance(route, APIRoute)}
    public.add(readiness.PATH)
    app.add_middleware(TokenGate, context=context, public=public)
    # The body cap sits outside everything, so oversized requests never reach JSON parsing.
    app.add_middleware(BodyLimitMiddleware, limit=context.max_payload_bytes * 2 + 64 * 1024)
    if context.metrics is not None:  # outermost: times and counts every answer, 401s too
        app.add_middleware(
            MetricsMiddleware, context=context, metrics=context.metrics, routes=app.routes
        )
    return app


class BodyLimitMiddleware:
    """Answers 413 once a request body passes ``limit`` bytes, declared or streamed.

    A streamed body that runs over is cut off: the app sees a disconnect, and whatever
    it tries to send afterwards is dropped in favour of the 413.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        seen = 0
        started = rejected = False

        async def counting_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not rejected:
                    rejected = True
                    if not started:
                        await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


class JsonByDefault:
    """A body sent without a Content-Type is read as JSON, as Svix's API reads it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = scope["headers"]
            if not any(name == b"content-type" for name, _ in headers):
                scope = dict(scope, headers=[*headers, (b"content-type", b"application/json")])
        await self.app(scope, receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = b'{"code":"payload_too_large","detail":"request body exceeds %d bytes"}' % limit
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
