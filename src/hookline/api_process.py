"""The API process's parts: the app with its dashboard and intake, served by uvicorn.

Built only where the API runs (``runtime.build_roles`` imports this module then), so a
worker process never imports FastAPI, the pages or the intake: it starts in about half
the time, which counts wherever processes restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from hookline.addresses import AddressPolicy
from hookline.api import ApiContext, create_app
from hookline.api.context import TunnelHub
from hookline.api.http_server import HttpLimits, protocol_class
from hookline.config import Settings
from hookline.inbound.common import TrustedProxies
from hookline.inbound.intake import IntakeApp, IntakeConfig
from hookline.inbound.router import Router, RouterConfig
from hookline.metrics import Metrics
from hookline.store.base import Store
from hookline.tracing import Tracing
from hookline.ui import Branding, UiConfig, mount_ui


@dataclass(frozen=True, slots=True)
class ApiWiring:
    """What the composition root decides for the API and other roles share."""

    admin_token: str
    public_url: str
    address_policy: AddressPolicy
    action_names: frozenset[str]
    tunnels: TunnelHub | None
    tracing: Tracing
    metrics: Metrics | None


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
    )


def ui_config(settings: Settings, store: Store, context: ApiContext) -> UiConfig:
    return UiConfig(
        store=store,
        admin_token=context.admin_token,
        public_url=context.public_url,
        session_ttl_s=settings.ui_session_ttl,
        frame_ancestors=settings.portal_frame_ancestors,
        branding=Branding(
            logo_url=settings.portal_logo_url,
            primary_color=settings.portal_primary_color,
            name=settings.portal_name,
        ),
    )


def build(settings: Settings, store: Store, wiring: ApiWiring) -> tuple[uvicorn.Server, Router]:
    """The server (the API, the pages and intake on one socket) and the router that
    routes what intake stored."""
    context = ApiContext(
        store=store,
        admin_token=wiring.admin_token,
        max_payload_bytes=settings.max_payload_bytes,
        secret_rotation_grace_s=settings.secret_rotation_grace,
        address_policy=wiring.address_policy,
        public_url=wiring.public_url,
        action_names=wiring.action_names,
        poll_settle_s=settings.poll_settle,
        portal_name=settings.portal_name,
        portal_logo_url=settings.portal_logo_url,
        portal_color=settings.portal_primary_color,
        tunnels=wiring.tunnels,
        tracing=wiring.tracing,
        heartbeat_s=settings.heartbeat_seconds,
        ready_require_worker=settings.ready_require_worker,
        metrics=wiring.metrics,
        metrics_public=settings.metrics_public,
    )
    intake = IntakeConfig(
        max_body_bytes=settings.inbound_max_body_bytes,
        trusted_proxies=TrustedProxies.parse(settings.trusted_proxies),
    )
    router = Router(store, RouterConfig(poll_interval=settings.poll_interval))
    api_app = create_app(context)
    if settings.ui_enabled:
        mount_ui(api_app, ui_config(settings, store, context))
    config = uvicorn.Config(
        IntakeApp(api_app, store, intake, wiring.metrics),
        host=settings.host,
        port=settings.port,
        loop="none",
        http=protocol_class(http_limits(settings)),
        ws="websockets-sansio",  # the tunnel's socket; uvicorn pings it every 20 s
        lifespan="off",
        log_config=None,  # uvicorn's loggers reach ours (text or JSON, redacted)
        log_level="warning",
        access_log=False,
        server_header=False,
        # X-Forwarded-* count only from HOOKLINE_TRUSTED_PROXIES, and only for intake
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    return _ApiServer(config), router
