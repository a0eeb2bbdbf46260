"""The composition root: settings -> store -> roles. Nothing else wires objects up.

``serve`` runs the API and the worker in one process on one event loop; either can
be switched off, so the same entry point scales out to API-only and worker-only
processes once the store is shared (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from hookline.api import ApiContext, create_app
from hookline.api.http_server import HttpLimits, protocol_class
from hookline.breaker import BreakerPolicy, HealthPolicy
from hookline.config import Settings
from hookline.delivery.maintenance import DAY_MS, Maintenance, MaintenanceConfig
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.ssrf import AddressPolicy
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.retry import RetryPolicy
from hookline.store import migrate
from hookline.store.base import Store

log = logging.getLogger("hookline")


def sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return url[len(prefix) :] or ":memory:"


def open_store(settings: Settings) -> Store:
    """Pick the backend from the URL scheme; drivers are imported only when chosen."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        from hookline.store.sqlite import SqliteStore

        path = sqlite_path(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        migrate.upgrade(url)
        return SqliteStore(path, settings.sqlite_synchronous)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")


def admin_token(settings: Settings) -> str:
    """HOOKLINE_API_TOKEN, else a token generated once and kept in the data folder."""
    if settings.api_token is not None and settings.api_token.get_secret_value():
        return settings.api_token.get_secret_value()
    path = settings.data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = "hk_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def address_policy(settings: Settings, dev: bool) -> AddressPolicy:
    return AddressPolicy.build(
        allow_private=settings.allow_private_targets,
        allowed_subnets=settings.allowed_subnets,
        allow_loopback=dev or settings.allow_loopback_targets,
    )


def health_policy(settings: Settings) -> HealthPolicy:
    return HealthPolicy(
        breaker=BreakerPolicy(
            threshold=settings.breaker_threshold,
            base_cooldown_ms=int(settings.breaker_cooldown * 1000),
            max_cooldown_ms=int(settings.breaker_max_cooldown * 1000),
        ),
        disable_after_ms=int(settings.disable_after * 1000),
    )


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        max_connections=settings.max_connections,
    )


@dataclass(slots=True)
class Roles:
    store: Store
    worker: Worker | None
    sender: Sender | None
    api: uvicorn.Server | None
    maintenance: Maintenance | None = None


class _ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_roles(settings: Settings, dev: bool = False) -> Roles:
    store = open_store(settings)
    worker = sender = api = maintenance = None
    if settings.run_worker:
        retention_ms = int(settings.retention_days * DAY_MS)
        maintenance = Maintenance(store, MaintenanceConfig(retention_ms=retention_ms))
        sender = Sender(
            SenderConfig(
                request_timeout=settings.request_timeout,
                connect_timeout=settings.connect_timeout,
                max_response_body=settings.max_response_body,
                send_svix_headers=settings.send_svix_headers,
                policy=address_policy(settings, dev),
            )
        )
        worker = Worker(
            store,
            sender,
            RetryPolicy(settings.retry_schedule, settings.retry_jitter),
            WorkerConfig(
                batch_size=settings.worker_batch_size,
                concurrency=settings.worker_concurrency,
                lease_seconds=settings.lease_seconds,
                poll_interval=settings.poll_interval,
                drain_timeout=settings.request_timeout + 5,
                max_in_flight_per_endpoint=settings.endpoint_max_in_flight,
                slow_after=settings.worker_slow_after,
                max_connections=settings.worker_max_connections,
                health=health_policy(settings),
            ),
        )
    if settings.run_api:
        context = ApiContext(
            store=store,
            admin_token=admin_token(settings),
            max_payload_bytes=settings.max_payload_bytes,
            secret_rotation_grace_s=settings.secret_rotation_grace,
        )
        config = uvicorn.Config(
            create_app(context),
            host=settings.host,
            port=settings.port,
            loop="none",
            http=protocol_class(http_limits(settings)),
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
        api = _ApiServer(config)
    return Roles(store=store, worker=worker, sender=sender, api=api, maintenance=maintenance)


async def run(roles: Roles, started: asyncio.Event | None = None) -> None:
    """Run every role until SIGTERM/SIGINT, then stop them in order: API, worker and
    maintenance, store."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await roles.store.open()
    tasks: list[asyncio.Task[None]] = []
    try:
        if roles.sender is not None and roles.worker is not None:
            await roles.sender.open()
            tasks.append(asyncio.create_task(roles.worker.run(), name="hookline-worker"))
        if roles.maintenance is not None:
            tasks.append(asyncio.create_task(roles.maintenance.run(), name="hookline-maintenance"))
        if roles.api is not None:
            tasks.append(asyncio.create_task(roles.api.serve(), name="hookline-api"))
        if started is not None:
            started.set()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        log.info("shutting down")
        if roles.api is not None:
            roles.api.should_exit = True
        if roles.worker is not None:
            roles.worker.stop()
        if roles.maintenance is not None:
            roles.maintenance.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if roles.sender is not None:
            await roles.sender.close()
        await roles.store.close()
