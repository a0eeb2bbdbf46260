"""The commands that run hookline itself: serve, worker, migrate and the secret keys."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click
from pydantic import ValidationError

from hookline import logs
from hookline.cli.root import main, use_uvloop
from hookline.config import Settings
from hookline.signing.at_rest import UndecryptableSecret, generate_key


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise click.UsageError(f"invalid configuration:\n{exc}") from None


def _banner(settings: Settings, dev: bool, processes: str | None = None) -> None:
    """What ``make run`` shows, and what tests and the benchmark read back. With JSON
    logs it is one log line instead, without the admin token (a log pipeline keeps it)."""
    from hookline import runtime

    if logs.current_format() == "json":
        _json_banner(settings, dev, runtime.redact(settings.resolved_database_url), processes)
        return
    if settings.run_api:
        click.echo(f"hookline API: http://{settings.host}:{settings.port}/api/v1")
        token = runtime.admin_token(settings)
        if settings.environment == "production":
            token = "(set by HOOKLINE_API_TOKEN; not printed in production)"
        click.echo(f"admin token:  {token}")
        if settings.ui_enabled:
            click.echo(f"dashboard:    http://{settings.host}:{settings.port}/ui/")
    click.echo(f"database:     {runtime.redact(settings.resolved_database_url)}")
    if settings.run_worker:
        guard = "loopback targets allowed (--dev)" if dev else "on"
        if settings.allow_private_targets:
            guard = "off (HOOKLINE_ALLOW_PRIVATE_TARGETS)"
        click.echo(f"SSRF guard:   {guard}")
    if processes is not None:
        click.echo(f"processes:    {processes}")


def _json_banner(settings: Settings, dev: bool, database: str, processes: str | None) -> None:
    base = f"http://{settings.host}:{settings.port}"
    fields: dict[str, Any] = {"event": "serve_started", "database": database}
    if settings.run_api:
        fields["api_url"] = f"{base}/api/v1"
        if settings.ui_enabled:
            fields["dashboard_url"] = f"{base}/ui/"
    if settings.run_worker:
        fields["ssrf_guard"] = "off" if settings.allow_private_targets else "on"
        fields["dev"] = dev
    if processes is not None:
        fields["processes"] = processes
    logging.getLogger("hookline").info("hookline serving", extra=fields)


def _run(settings: Settings, dev: bool) -> None:
    from hookline import runtime

    try:
        roles = runtime.build_roles(settings, dev=dev)
    except (ValueError, runtime.SchemaError) as exc:  # a bad key or URL, a schema behind
        raise click.ClickException(str(exc)) from None
    _banner(settings, dev)
    sys.stdout.flush()
    use_uvloop()
    try:
        asyncio.run(runtime.run(roles))
    except (UndecryptableSecret, runtime.RoleStopped) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--host", default=None, help="Interface to bind [env HOOKLINE_HOST].")
@click.option("--port", default=None, type=int, help="Port to bind [env HOOKLINE_PORT].")
@click.option("--dev", is_flag=True, help="Development mode: deliveries may target loopback.")
@click.option("--no-worker", is_flag=True, help="Run only the API, in this process.")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=0),
    help="Worker processes beside the API process [default: cores - 1, at least 1];"
    " 0 runs the API and the worker in this one process.",
)
def serve(
    host: str | None, port: int | None, dev: bool, no_worker: bool, workers: int | None
) -> None:
    """Run the API and the delivery workers: one process each, supervised."""
    from hookline import runtime, supervisor

    settings = _settings(host=host, port=port, run_worker=False if no_worker else None)
    count = supervisor.default_workers() if workers is None else workers
    if (
        no_worker
        or count == 0
        or not supervisor.SUPPORTED
        or not settings.run_worker
        or not settings.run_api
    ):
        _run(settings, dev)
        return
    try:
        runtime.prepare(settings)
    except (ValueError, runtime.SchemaError) as exc:  # a bad key or URL, a schema behind
        raise click.ClickException(str(exc)) from None
    _banner(settings, dev, f"1 API + {count} worker(s), supervised")
    sys.stdout.flush()
    sys.exit(supervisor.Supervisor(settings, count, dev).run())


@main.command("child", hidden=True)
@click.option("--role", required=True, type=click.Choice(["api", "worker"]))
@click.option("--name", required=True)
@click.option("--link-fd", required=True, type=int)
@click.option("--host", default=None)
@click.option("--port", default=None, type=int)
@click.option("--dev", is_flag=True)
@click.option("--no-maintenance", is_flag=True)
def child(
    role: str,
    name: str,
    link_fd: int,
    host: str | None,
    port: int | None,
    dev: bool,
    no_maintenance: bool,
) -> None:
    """One process of ``hookline serve``, started by its supervising parent."""
    from hookline import runtime, supervisor

    settings = _settings(
        host=host,
        port=port,
        run_api=role == "api",
        run_worker=role == "worker",
        run_maintenance=False if no_maintenance else None,
    )
    use_uvloop()
    try:
        supervisor.run_child(settings, name, link_fd, dev)
    except (UndecryptableSecret, ValueError, runtime.SchemaError) as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--dev", is_flag=True, help="Development mode: deliveries may target loopback.")
def worker(dev: bool) -> None:
    """Run only the delivery worker."""
    _run(_settings(run_api=False), dev)


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run from several processes at once)."""
    from hookline import runtime

    settings = _settings()
    try:
        click.echo(runtime.migrate_database(settings))
    except (ValueError, runtime.SchemaError) as exc:  # no driver, no database, no schema
        raise click.ClickException(str(exc)) from None


@main.command("generate-secret-key")
def generate_secret_key() -> None:
    """Print a new key for HOOKLINE_SECRET_KEY."""
    click.echo(generate_key())


@main.command("rotate-secret-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1))
def rotate_secret_key(batch_size: int) -> None:
    """Re-encrypt every stored secret with HOOKLINE_SECRET_KEY.

    Run it after restarting with the new key in HOOKLINE_SECRET_KEY and the old one in
    HOOKLINE_SECRET_KEYS_PREVIOUS; afterwards the old key can be dropped.
    """
    from hookline import runtime  # the server's modules load only when it runs

    settings = _settings()
    try:
        count = asyncio.run(runtime.reseal_secrets(settings, batch_size))
    except (UndecryptableSecret, ValueError, runtime.SchemaError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"re-encrypted the secrets of {count} endpoint(s), source(s) and received request(s)"
        " with the current key"
    )
