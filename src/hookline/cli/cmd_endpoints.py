"""``hookline endpoint``: an application's endpoints, their secrets and their recovery."""

from __future__ import annotations

from typing import Any

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
from hookline.cli.output import done, show_list, show_one, wait_task
from hookline.cli.root import main

EP_COLUMNS = (
    ("id", "id"),
    ("uid", "uid"),
    ("url", "url"),
    ("filterTypes", "event types"),
    ("disabled", "disabled"),
    ("description", "description"),
)
no_wait = click.option("--no-wait", is_flag=True, help="Return at once with the task.")


def _path(app_id: str, endpoint_id: str = "", tail: str = "") -> str:
    path = f"/api/v1/app/{app_id}/endpoint"
    return f"{path}/{endpoint_id}{tail}" if endpoint_id else path


def _fields(
    url: str | None,
    description: str | None,
    uid: str | None,
    event_types: tuple[str, ...],
    channels: tuple[str, ...],
    rate_limit: int | None,
    disabled: bool | None,
    metadata: str | None,
) -> dict[str, Any]:
    return drop_none(
        url=url,
        description=description,
        uid=uid,
        filterTypes=list(event_types) or None,
        channels=list(channels) or None,
        throttleRate=rate_limit,
        disabled=disabled,
        metadata=parse_json(metadata, "--metadata") if metadata else None,
    )


def endpoint_options(func: Any) -> Any:
    for option in reversed(
        (
            click.option("--description", default=None),
            click.option("--uid", default=None),
            click.option("--event-type", "event_types", multiple=True, help="Repeat for more."),
            click.option("--channel", "channels", multiple=True, help="Repeat for more."),
            click.option("--rate-limit", type=int, default=None),
            click.option("--disabled/--enabled", default=None),
            click.option("--metadata", default=None, help="JSON object, or @file."),
        )
    ):
        func = option(func)
    return func


@main.group("endpoint")
def endpoint_group() -> None:
    """Endpoints of an application, their secret, headers, stats and recovery."""


@endpoint_group.command("list")
@app_argument
@list_options
@api_command
def endpoint_list(session: Session, app_id: str, limit: int | None, iterator: str | None) -> None:
    """List an application's endpoints."""
    body = session.api.get(_path(app_id), limit=limit, iterator=iterator)
    show_list(session, body, EP_COLUMNS, f"endpoints of {app_id}")


@endpoint_group.command("create")
@app_argument
@click.option("--url", required=True)
@endpoint_options
@click.option("--secret", default=None, help="whsec_... (default: a new one).")
@api_command
def endpoint_create(session: Session, app_id: str, secret: str | None, **fields: Any) -> None:
    """Create an endpoint."""
    body = _fields(**fields)
    if secret:
        body["secret"] = secret
    show_one(session, session.api.post(_path(app_id), body), "endpoint")


@endpoint_group.command("get")
@app_argument
@click.argument("endpoint_id")
@api_command
def endpoint_get(session: Session, app_id: str, endpoint_id: str) -> None:
    """Show one endpoint."""
    show_one(session, session.api.get(_path(app_id, endpoint_id)), "endpoint")


@endpoint_group.command("update")
@app_argument
@click.argument("endpoint_id")
@click.option("--url", default=None)
@endpoint_options
@api_command
def endpoint_update(session: Session, app_id: str, endpoint_id: str, **fields: Any) -> None:
    """Change the given fields of an endpoint."""
    body = _fields(**fields)
    show_one(session, session.api.patch(_path(app_id, endpoint_id), body), "endpoint")


@endpoint_group.command("delete")
@app_argument
@click.argument("endpoint_id")
@api_command
def endpoint_delete(session: Session, app_id: str, endpoint_id: str) -> None:
    """Delete an endpoint."""
    session.api.delete(_path(app_id, endpoint_id))
    done(session, f"deleted endpoint {endpoint_id}")


@endpoint_group.command("secret")
@app_argument
@click.argument("endpoint_id")
@api_command
def endpoint_secret(session: Session, app_id: str, endpoint_id: str) -> None:
    """Print the endpoint's signing secret (for your receiver)."""
    body = session.api.get(_path(app_id, endpoint_id, "/secret"))
    if session.as_json:
        show_one(session, body)
    else:
        click.echo(body["key"])


@endpoint_group.command("rotate-secret")
@app_argument
@click.argument("endpoint_id")
@click.option("--key", default=None, help="The new whsec_... (default: a new one).")
@api_command
def endpoint_rotate(session: Session, app_id: str, endpoint_id: str, key: str | None) -> None:
    """Replace the signing secret; the old one keeps signing for a grace period."""
    body = session.api.post(_path(app_id, endpoint_id, "/secret/rotate"), drop_none(key=key))
    done(session, f"rotated the secret of {endpoint_id}", body)


@endpoint_group.command("headers")
@app_argument
@click.argument("endpoint_id")
@click.option("--set", "set_", multiple=True, metavar="NAME=VALUE", help="Add or replace.")
@click.option("--unset", multiple=True, metavar="NAME", help="Remove a header.")
@api_command
def endpoint_headers(
    session: Session,
    app_id: str,
    endpoint_id: str,
    set_: tuple[str, ...],
    unset: tuple[str, ...],
) -> None:
    """Show the custom headers sent with each delivery, or change them."""
    path = _path(app_id, endpoint_id, "/headers")
    if set_ or unset:
        pairs = [item.partition("=") for item in set_]
        if any(not sep or not name for name, sep, _ in pairs):
            raise CliError("--set takes NAME=VALUE")
        change = {"headers": {n: v for n, _, v in pairs}, "deleteHeaders": list(unset)}
        session.api.patch(path, change)
    show_one(session, session.api.get(path), "headers")


@endpoint_group.command("stats")
@app_argument
@click.argument("endpoint_id")
@click.option("--since", default=None, help="ISO 8601 date-time.")
@click.option("--until", default=None, help="ISO 8601 date-time.")
@api_command
def endpoint_stats(
    session: Session, app_id: str, endpoint_id: str, since: str | None, until: str | None
) -> None:
    """Delivery counts by status."""
    body = session.api.get(_path(app_id, endpoint_id, "/stats"), since=since, until=until)
    show_one(session, body, "stats")


@endpoint_group.command("send-example")
@app_argument
@click.argument("endpoint_id")
@click.option("--event-type", default="svix.ping", show_default=True)
@api_command
def endpoint_send_example(session: Session, app_id: str, endpoint_id: str, event_type: str) -> None:
    """Send a test event built from the event type's example."""
    body = session.api.post(_path(app_id, endpoint_id, "/send-example"), {"eventType": event_type})
    show_one(session, body, "message")


def _start(session: Session, path: str, body: dict[str, Any], wait: bool) -> None:
    started = session.api.post(path, body)
    wait_task(session, started, wait)


@endpoint_group.command("recover")
@app_argument
@click.argument("endpoint_id")
@click.option("--since", required=True, help="ISO 8601 date-time.")
@click.option("--until", default=None, help="ISO 8601 date-time.")
@no_wait
@api_command
def endpoint_recover(
    session: Session, app_id: str, endpoint_id: str, since: str, until: str | None, no_wait: bool
) -> None:
    """Resend every failed message since a time; follows the task until it ends."""
    body = drop_none(since=since, until=until)
    _start(session, _path(app_id, endpoint_id, "/recover"), body, not no_wait)


@endpoint_group.command("replay")
@app_argument
@click.argument("endpoint_id")
@click.option("--since", required=True, help="ISO 8601 date-time.")
@click.option("--until", default=None, help="ISO 8601 date-time.")
@no_wait
@api_command
def endpoint_replay(
    session: Session, app_id: str, endpoint_id: str, since: str, until: str | None, no_wait: bool
) -> None:
    """Send the messages the endpoint never got (replay-missing)."""
    body = drop_none(since=since, until=until)
    _start(session, _path(app_id, endpoint_id, "/replay-missing"), body, not no_wait)


@endpoint_group.command("bulk-replay")
@app_argument
@click.argument("endpoint_id")
@click.option("--since", required=True, help="ISO 8601 date-time.")
@click.option("--until", default=None, help="ISO 8601 date-time.")
@click.option("--event-type", "event_types", multiple=True, help="Only these (repeatable).")
@click.option("--channel", default=None, help="Only messages on this channel.")
@click.option("--tag", default=None, help="Only messages with this tag.")
@click.option(
    "--status", default=None, type=click.IntRange(0, 4), help="0 ok, 1 pending, 2 failed."
)
@no_wait
@api_command
def endpoint_bulk_replay(
    session: Session,
    app_id: str,
    endpoint_id: str,
    since: str,
    until: str | None,
    event_types: tuple[str, ...],
    channel: str | None,
    tag: str | None,
    status: int | None,
    no_wait: bool,
) -> None:
    """Send every matching message again, delivered or not (how a new endpoint
    backfills); follows the task until it ends."""
    body = drop_none(
        since=since,
        until=until,
        eventTypes=list(event_types) or None,
        channel=channel,
        tag=tag,
        status=status,
    )
    _start(session, _path(app_id, endpoint_id, "/bulk-replay"), body, not no_wait)
