"""``hookline message`` and ``hookline attempt``: publish, read back, and the attempt log."""

from __future__ import annotations

import click

from hookline.cli.client import (
    CliError,
    Session,
    api_command,
    app_argument,
    drop_none,
    list_options,
    parse_json,
)
from hookline.cli.output import done, show_list, show_one
from hookline.cli.root import main

MSG_COLUMNS = (
    ("id", "id"),
    ("eventId", "event id"),
    ("eventType", "event type"),
    ("channels", "channels"),
    ("timestamp", "time"),
)
ATTEMPT_COLUMNS = (
    ("id", "id"),
    ("msgId", "message"),
    ("endpointId", "endpoint"),
    ("responseStatusCode", "status"),
    ("statusText", "outcome"),
    ("responseDurationMs", "ms"),
    ("errorKind", "error"),
    ("timestamp", "time"),
)


@main.group("message")
def message_group() -> None:
    """Messages: publish one, list them, show one with its payload."""


@message_group.command("list")
@app_argument
@click.option("--event-type", "event_types", multiple=True, help="Only these; repeat for more.")
@click.option("--channel", default=None)
@list_options
@api_command
def message_list(
    session: Session,
    app_id: str,
    event_types: tuple[str, ...],
    channel: str | None,
    limit: int | None,
    iterator: str | None,
) -> None:
    """List an application's messages, newest first."""
    body = session.api.get(
        f"/api/v1/app/{app_id}/msg",
        limit=limit,
        iterator=iterator,
        event_types=list(event_types),
        channel=channel,
    )
    show_list(session, body, MSG_COLUMNS, f"messages of {app_id}")


@message_group.command("create")
@app_argument
@click.option("--event-type", required=True)
@click.option("--payload", required=True, help="A JSON object, @file, or - for stdin.")
@click.option("--event-id", default=None, help="Your id for it; a repeat is refused.")
@click.option("--channel", "channels", multiple=True, help="Repeat for more.")
@click.option("--tag", "tags", multiple=True, help="Repeat for more.")
@api_command
def message_create(
    session: Session,
    app_id: str,
    event_type: str,
    payload: str,
    event_id: str | None,
    channels: tuple[str, ...],
    tags: tuple[str, ...],
) -> None:
    """Publish a message to every subscribed endpoint."""
    data = parse_json(payload, "--payload")
    if not isinstance(data, dict):
        raise CliError("--payload must be a JSON object")
    body = drop_none(
        eventType=event_type,
        payload=data,
        eventId=event_id,
        channels=list(channels) or None,
        tags=list(tags) or None,
    )
    show_one(session, session.api.post(f"/api/v1/app/{app_id}/msg", body), "message")


@message_group.command("get")
@app_argument
@click.argument("msg_id")
@api_command
def message_get(session: Session, app_id: str, msg_id: str) -> None:
    """Show one message (by id or event id)."""
    show_one(session, session.api.get(f"/api/v1/app/{app_id}/msg/{msg_id}"), "message")


@main.group("attempt")
def attempt_group() -> None:
    """Delivery attempts: the log by message or by endpoint, and resend."""


@attempt_group.command("list")
@app_argument
@click.option("--msg", "msg_id", default=None, help="Attempts of this message.")
@click.option("--endpoint", "endpoint_id", default=None, help="Attempts to this endpoint.")
@click.option(
    "--status", type=click.IntRange(0, 4), default=None, help="0 ok, 1 pending, 2 failed."
)
@list_options
@api_command
def attempt_list(
    session: Session,
    app_id: str,
    msg_id: str | None,
    endpoint_id: str | None,
    status: int | None,
    limit: int | None,
    iterator: str | None,
) -> None:
    """List attempts of one message (--msg) or to one endpoint (--endpoint)."""
    if (msg_id is None) == (endpoint_id is None):
        raise click.UsageError("give one of --msg and --endpoint")
    path = f"/api/v1/app/{app_id}/attempt/"
    path += f"msg/{msg_id}" if msg_id else f"endpoint/{endpoint_id}"
    body = session.api.get(
        path,
        limit=limit,
        iterator=iterator,
        status=status,
    )
    show_list(session, body, ATTEMPT_COLUMNS, "attempts")


@attempt_group.command("resend")
@app_argument
@click.argument("msg_id")
@click.argument("endpoint_id")
@api_command
def attempt_resend(session: Session, app_id: str, msg_id: str, endpoint_id: str) -> None:
    """Send a message to an endpoint once more."""
    path = f"/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"
    body = session.api.post(path)
    done(session, f"resend of {msg_id} to {endpoint_id} queued", {} if body is None else body)
