"""``hookline source``: inbound sources (the Ingest API), where providers send webhooks."""

from __future__ import annotations

from typing import Any

import click

from hookline.cli.client import CliError, Session, api_command, drop_none, list_options, parse_json
from hookline.cli.output import done, show_list, show_one
from hookline.cli.root import main

SOURCES = "/ingest/api/v1/source"
SOURCE_COLUMNS = (
    ("id", "id"),
    ("uid", "uid"),
    ("name", "name"),
    ("type", "type"),
    ("ingestUrl", "ingest URL"),
)
REQUEST_COLUMNS = (
    ("id", "id"),
    ("verdict", "verdict"),
    ("statusCode", "status"),
    ("eventType", "event type"),
    ("reason", "reason"),
    ("receivedAt", "received"),
)


def _config(config: str | None) -> dict[str, Any] | None:
    if config is None:
        return None
    parsed = parse_json(config, "--config")
    if not isinstance(parsed, dict):
        raise CliError("--config must be a JSON object")
    return parsed


@main.group("source")
def source_group() -> None:
    """Inbound sources: list, create, get, update, delete, rotate-token, requests."""


@source_group.command("list")
@list_options
@api_command
def source_list(session: Session, limit: int | None, iterator: str | None) -> None:
    """List inbound sources."""
    body = session.api.get(SOURCES, limit=limit, iterator=iterator)
    show_list(session, body, SOURCE_COLUMNS, "sources")


@source_group.command("create")
@click.option("--name", required=True)
@click.option("--type", "kind", required=True, help="github, stripe, generic-webhook, ...")
@click.option("--uid", default=None)
@click.option("--config", default=None, help='JSON object, or @file: {"secret": "..."}.')
@api_command
def source_create(
    session: Session, name: str, kind: str, uid: str | None, config: str | None
) -> None:
    """Create a source; its ingest URL is what the provider calls."""
    body = drop_none(name=name, type=kind, uid=uid, config=_config(config))
    show_one(session, session.api.post(SOURCES, body), "source")


@source_group.command("get")
@click.argument("source_id")
@api_command
def source_get(session: Session, source_id: str) -> None:
    """Show one source."""
    show_one(session, session.api.get(f"{SOURCES}/{source_id}"), "source")


@source_group.command("update")
@click.argument("source_id")
@click.option("--name", default=None)
@click.option("--type", "kind", default=None)
@click.option("--uid", default=None)
@click.option("--config", default=None, help="JSON object, or @file; replaces the config.")
@api_command
def source_update(
    session: Session,
    source_id: str,
    name: str | None,
    kind: str | None,
    uid: str | None,
    config: str | None,
) -> None:
    """Change the given fields of a source."""
    body = drop_none(name=name, type=kind, uid=uid, config=_config(config))
    show_one(session, session.api.patch(f"{SOURCES}/{source_id}", body), "source")


@source_group.command("delete")
@click.argument("source_id")
@api_command
def source_delete(session: Session, source_id: str) -> None:
    """Delete a source."""
    session.api.delete(f"{SOURCES}/{source_id}")
    done(session, f"deleted source {source_id}")


@source_group.command("rotate-token")
@click.argument("source_id")
@api_command
def source_rotate(session: Session, source_id: str) -> None:
    """Give the source a new ingest URL; the old one stops working."""
    show_one(session, session.api.post(f"{SOURCES}/{source_id}/token/rotate"), "source")


@source_group.command("requests")
@click.argument("source_id")
@click.option("--verdict", default=None, help="accepted, rejected, duplicate, ...")
@list_options
@api_command
def source_requests(
    session: Session, source_id: str, verdict: str | None, limit: int | None, iterator: str | None
) -> None:
    """The requests the source received, with each one's verdict."""
    body = session.api.get(
        f"{SOURCES}/{source_id}/request", verdict=verdict, limit=limit, iterator=iterator
    )
    show_list(session, body, REQUEST_COLUMNS, f"requests to {source_id}")
