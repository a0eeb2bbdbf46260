"""The composition root: settings -> store -> roles. Nothing else wires objects up.

``run`` runs whichever roles the settings switch on, on one event loop: all of them
(``serve --workers 0``), the API alone or a worker alone (the processes that
``hookline.supervisor`` starts, or ``serve --no-worker`` and ``hookline worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hookline.addresses import AddressPolicy
from hookline.breaker import BreakerPolicy, HealthPolicy
from hookline.config import Settings
from hookline.delivery.action_config import LEASE_HEADROOM_S, ActionSpec, load_actions
from hookline.delivery.actions import ActionRunner
from hookline.delivery.fanout import Fanout, FanoutConfig
from hookline.delivery.heartbeat import Heartbeat
from hookline.delivery.maintenance import DAY_MS, Maintenance, MaintenanceConfig
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.tunnel import TunnelConfig, Tunnels
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.observability import build_metrics, serve_worker_metrics
from hookline.retry import RetryPolicy
from hookline.signing.at_rest import SecretBox, check_key, generate_key
from hookline.store import migrate
from hookline.store.base import Store
from hookline.store.migrate import SchemaError as SchemaError  # the CLI reports it in a line
from hookline.store.migrate import redact as redact  # a URL without its password, to print
from hookline.tracing import Tracing, build_tracing

if TYPE_CHECKING:
    import uvicorn

    from hookline.inbound.router import Router
    from hookline.store.sql_store import SqlStore
    from hookline.store.sqlite import SqliteStore

log = logging.getLogger("hookline")


def sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a sqlite URL: {url!r}")
    return url[len(prefix) :] or ":memory:"


def open_store(settings: Settings, *, migrated: bool = False) -> Store:
    """Pick the backend from the URL scheme; drivers are imported only when chosen.
    The schema's revision is checked first (``SchemaBehind`` if it is older than this
    release's); an empty database gets the schema unless ``migrated`` (a supervising
    parent made sure of it, so a child never creates it nor imports Alembic)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        return _open_sqlite(settings, url, migrated)
    if is_postgres(url):
        return _open_postgres(settings, url, migrated)
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql:", "postgresql+psycopg:", "postgres:"))


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:  # the driver is an extra
        raise ValueError(
            "a postgresql:// database needs the driver: pip install 'hookline[postgres]'"
        ) from None


def _open_postgres(settings: Settings, url: str, migrated: bool = False) -> SqlStore:
    _require_driver()
    from hookline.store.postgres import PostgresStore

    migrate.check(url, create=not migrated)
    return PostgresStore(
        url,
        box=secret_box(settings),
        pool_size=settings.database_pool_size,
        notify_url=settings.notify_url,
    )


def _open_sqlite(settings: Settings, url: str, migrated: bool = False) -> SqliteStore:
    from hookline.store.sqlite import SqliteStore
    from hookline.store.sqlite_db import secure_files
    from hookline.store.wakeup import socket_folder

    box = secret_box(settings)
    path = sqlite_path(url)
    secure_files(path)  # before the migration opens it: SQLite would make it 0644
    migrate.check(url, create=not migrated)
    # processes on one data folder wake each other through sockets in it (else they poll)
    shared = path != ":memory:" and os.name == "posix"  # Unix datagram sockets
    wake_dir = socket_folder(private_data_dir(settings)) if shared else None
    # a process that serves the API and runs no worker goes first for the write lock,
    # so a publish waits for at most the one worker transaction under way
    priority = settings.run_api and not settings.run_worker
    return SqliteStore(
        path, settings.sqlite_synchronous, box=box, wake_dir=wake_dir, priority_writes=priority
    )


def migrate_database(settings: Settings) -> str:
    """``hookline migrate``: the schema brought to this release's head, on a database file
    only its owner can read. Returns what it did, in a line."""
    url = _schema_url(settings)
    found = migrate.read_revision(url)
    if found.revision is None and found.tables:
        raise SchemaError(f"the database {migrate.redact(url)} has tables but no revision")
    if found.revision is not None and found.revision not in migrate.REVISIONS:
        return (
            f"the database is at revision {found.revision}, newer than this release"
            f" ({migrate.HEAD}): nothing to do"
        )
    before, after = migrate.upgrade(migrate.alembic_url(url))
    if before == after:
        return f"the database is up to date (revision {after})"
    return f"migrated the database from revision {before or '(empty)'} to {after}"


def check_schema(settings: Settings) -> None:
    """Before a supervised ``serve`` starts its children: a first start creates the
    schema; a schema behind this release is refused (``SchemaBehind``)."""
    migrate.check(_schema_url(settings), create=True)


def _schema_url(settings: Settings) -> str:
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        from hookline.store.sqlite_db import secure_files

        private_data_dir(settings)
        secure_files(sqlite_path(url))
    elif is_postgres(url):
        _require_driver()
    else:
        raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
    return url


def prepare(settings: Settings) -> None:
    """The one-time set-up before a process of ``serve`` starts: the actions file checked,
    the data folder, the schema, the admin token and the secret key, each made once
    rather than raced for by every process."""
    actions(settings)
    check_schema(settings)
    secret_box(settings)
    if settings.run_api:
        admin_token(settings)


async def reseal_secrets(settings: Settings, batch_size: int) -> int:
    """``hookline rotate-secret-key``: re-encrypt stored secrets with the current key."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:"):
        store: SqlStore = _open_sqlite(settings, url)
    elif is_postgres(url):
        store = _open_postgres(settings, url)
    else:
        raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
    await store.open()  # fails first if a stored secret matches none of the keys
    try:
        return await store.reseal_secrets(batch_size)
    finally:
        await store.close()


def public_url(settings: Settings) -> str:
    """The base of every source's ingestUrl: HOOKLINE_PUBLIC_URL, else where we listen."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def private_data_dir(settings: Settings) -> Path:
    """The data folder, created 0700, or tightened to 0700 if an older release or a
    hand-made folder left it readable by others. A shared folder (sticky bit, like /tmp)
    is left alone with a warning rather than locked."""
    path = settings.data_dir
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = path.stat().st_mode
    if mode & 0o077:
        if mode & stat.S_ISVTX:
            log.warning("data folder %s is shared (sticky bit); not restricting it", path)
        else:
            path.chmod(0o700)
    return path


def _private_value(path: Path, make: Callable[[], str]) -> str:
    """Read a file only the owner may read (tightening it), or create it with ``make()``.
    The value is written to a temporary file and linked into place, so two processes
    starting together agree on one value and nobody reads a half-written file."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # losing the key would lose every stored secret
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path.read_text().strip()


def admin_token(settings: Settings) -> str:
    """HOOKLINE_API_TOKEN, else a token generated once and kept in the data folder."""
    if settings.api_token is not None and settings.api_token.get_secret_value():
        return settings.api_token.get_secret_value()
    path = private_data_dir(settings) / "admin_token"
    return _private_value(path, lambda: "hk_" + secrets.token_urlsafe(32))


def secret_box(settings: Settings) -> SecretBox:
    """HOOKLINE_SECRET_KEY (else a key generated once into the data folder) encrypts;
    it and HOOKLINE_SECRET_KEYS_PREVIOUS decrypt."""
    data_dir = private_data_dir(settings)
    current = settings.secret_key.get_secret_value() if settings.secret_key else ""
    keys = [("HOOKLINE_SECRET_KEY", current)]
    if not current:
        path = data_dir / "secret_key"
        keys = [(str(path), _private_value(path, generate_key))]
    keys += [("HOOKLINE_SECRET_KEYS_PREVIOUS", k) for k in _previous(settings)]
    for source, key in keys:
        try:
            check_key(key)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return SecretBox([key for _, key in keys])


def _previous(settings: Settings) -> list[str]:
    return [k.get_secret_value() for k in settings.secret_keys_previous if k.get_secret_value()]


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


def sender_config(settings: Settings, dev: bool) -> SenderConfig:
    return SenderConfig(
        request_timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        max_response_body=settings.max_response_body,
        send_svix_headers=settings.send_svix_headers,
        policy=address_policy(settings, dev),
    )


def tunnels(settings: Settings, store: Store, dev: bool) -> Tunnels:
    """The API's tunnel sessions: deliveries signed, timed and retried as the worker's."""
    return Tunnels(
        store,
        RetryPolicy(settings.retry_schedule, settings.retry_jitter),
        sender_config(settings, dev),
        TunnelConfig(
            lease_seconds=settings.lease_seconds,
            poll_interval=settings.poll_interval,
            request_timeout=settings.request_timeout,
            max_in_flight=settings.endpoint_max_in_flight,
            max_response_body=settings.max_response_body,
            health=health_policy(settings),
        ),
    )


@dataclass(slots=True)
class Roles:
    store: Store
    worker: Worker | None
    sender: Sender | None
    api: uvicorn.Server | None  # the API process's parts: hookline.api_process
    maintenance: Maintenance | None = None
    router: Router | None = None  # runs with the API: it routes what intake stored
    fanout: Fanout | None = None  # runs with the worker: background fan-out
    tracing: Tracing = field(default_factory=Tracing)  # closed (flushed) at shutdown
    heartbeat: Heartbeat | None = None  # runs with the worker: readiness reads it


def actions(settings: Settings) -> dict[str, ActionSpec]:
    """The actions HOOKLINE_ACTIONS_FILE declares (none without it); an invalid file is an
    ``ActionsFileError`` (a ValueError), so the server does not start."""
    if settings.actions_file is None:
        return {}
    return load_actions(settings.actions_file, settings.lease_seconds - LEASE_HEADROOM_S)


def build_roles(
    settings: Settings,
    dev: bool = False,
    *,
    migrated: bool = False,
    tracing: Tracing | None = None,
    name: str = "worker",
) -> Roles:
    """``tracing`` replaces the one the settings choose (a test's in-memory exporter);
    ``name`` is the worker's in its heartbeat."""
    declared = actions(settings)  # before anything is opened: a bad file changes nothing
    tracing = build_tracing(settings) if tracing is None else tracing
    store = open_store(settings, migrated=migrated)
    metrics = build_metrics(settings)
    serve_worker_metrics(settings, metrics)
    worker = sender = api = maintenance = router = fanout = None
    if settings.run_worker:
        fanout = Fanout(
            store,
            FanoutConfig(
                batch_size=settings.fanout_batch_size, poll_interval=settings.poll_interval
            ),
        )
    if settings.run_worker and settings.run_maintenance:
        retention_ms = int(settings.retention_days * DAY_MS)
        settle_ms = int(settings.lease_seconds * 1000) + 60_000
        maintenance = Maintenance(
            store, MaintenanceConfig(retention_ms=retention_ms, insight_settle_ms=settle_ms)
        )
    if settings.run_worker:
        sender = Sender(sender_config(settings, dev))
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
            ActionRunner(declared, max_output=settings.max_response_body),
            tracing,
            metrics,
        )
    if settings.run_api:
        from hookline import api_process  # FastAPI and the UI: never in a worker process

        api, router = api_process.build(
            settings,
            store,
            api_process.ApiWiring(
                admin_token=admin_token(settings),
                public_url=public_url(settings),
                address_policy=address_policy(settings, dev),
                action_names=frozenset(declared),
                tunnels=tunnels(settings, store, dev),
                tracing=tracing,
                metrics=metrics,
            ),
        )
    beat = Heartbeat(store, name, settings.heartbeat_seconds) if settings.run_worker else None
    return Roles(store, worker, sender, api, maintenance, router, fanout, tracing, beat)


class RoleStopped(Exception):
    """A role's loop ended while the process was not stopping."""


async def run(roles: Roles, started: asyncio.Event | None = None) -> None:
    """Run every role until SIGTERM/SIGINT, then stop them in order: API, worker,
    maintenance, fan-out and router, store."""
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
        if roles.fanout is not None:
            tasks.append(asyncio.create_task(roles.fanout.run(), name="hookline-fanout"))
        if roles.heartbeat is not None:
            tasks.append(asyncio.create_task(roles.heartbeat.run(), name="hookline-heartbeat"))
        if roles.api is not None:
            tasks.append(asyncio.create_task(roles.api.serve(), name="hookline-api"))
        if roles.router is not None:
            tasks.append(asyncio.create_task(roles.router.run(), name="hookline-router"))
        if started is not None:
            started.set()
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        # a role that failed (its loop raised) stops the process; one that returned was
        # asked to (say, the API's should_exit set by whoever embeds it)
        ended = [
            task
            for task in done
            if task is not waiter and not task.cancelled() and task.exception() is not None
        ]
        for task in ended:
            log.error(
                "the %s role failed: %r",
                task.get_name(),
                task.exception(),
                extra={"event": "role_failed"},
            )
        log.info("shutting down", extra={"event": "shutting_down"})
        if roles.api is not None:
            roles.api.should_exit = True
        if roles.worker is not None:
            roles.worker.stop()
        if roles.maintenance is not None:
            roles.maintenance.stop()
        if roles.fanout is not None:
            roles.fanout.stop()
        if roles.heartbeat is not None:
            roles.heartbeat.stop()
        if roles.router is not None:
            roles.router.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ended:  # exit non-zero, so a supervisor (ours, systemd) starts the process again
            raise RoleStopped(", ".join(task.get_name() for task in ended) + " stopped")
    finally:
        if roles.sender is not None:
            await roles.sender.close()
        await roles.store.close()
        roles.tracing.close()
