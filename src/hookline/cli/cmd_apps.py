"""``hookline app``: applications, one per customer of yours."""

from __future__ import annotations

import click

from hookline.cli.client import (
    Session,
    api_command,
    app_argument,
    drop_none,
    list_options,
    parse_json,
)
from hookline.cli.output import done, show_list, show_one
from hookline.cli.root import main

APP_COLUMNS = (
    ("id", "id"),
    ("uid", "uid"),
    ("name", "name"),
    ("throttleRate", "rate limit"),
    ("createdAt", "created"),
)


@main.group("app")
def app_group() -> None:
    """Applications: list, create, get, update, delete."""


@app_group.command("list")
@list_options
@api_command
def app_list(session: Session, limit: int | None, iterator: str | None) -> None:
    """List applications."""
    body = session.api.get("/api/v1/app", limit=limit, iterator=iterator)
    show_list(session, body, APP_COLUMNS, "applications")


@app_group.command("create")
@click.option("--name", required=True)
@click.option("--uid", default=None, help="Your own id for it, usable instead of its id.")
@click.option("--rate-limit", type=int, default=None, help="Messages per second at most.")
@click.option("--metadata", default=None, help="JSON object, or @file.")
@api_command
def app_create(
    session: Session, name: str, uid: str | None, rate_limit: int | None, metadata: str | None
) -> None:
    """Create an application."""
    body = drop_none(
        name=name,
        uid=uid,
        throttleRate=rate_limit,
        metadata=parse_json(metadata, "--metadata") if metadata else None,
    )
    show_one(session, session.api.post("/api/v1/app", body), "application")


@app_group.command("get")
@app_argument
@api_command
def app_get(session: Session, app_id: str) -> None:
    """Show one application (by id or uid)."""
    show_one(session, session.api.get(f"/api/v1/app/{app_id}"), "application")


@app_group.command("update")
@app_argument
@click.option("--name", default=None)
@click.option("--uid", default=None)
@click.option("--rate-limit", type=int, default=None)
@click.option("--metadata", default=None, help="JSON object, or @file.")
@api_command
def app_update(
    session: Session,
    app_id: str,
    name: str | None,
    uid: str | None,
    rate_limit: int | None,
    metadata: str | None,
) -> None:
    """Change the given fields of an application."""
    body = drop_none(
        name=name,
        uid=uid,
        throttleRate=rate_limit,
        metadata=parse_json(metadata, "--metadata") if metadata else None,
    )
    show_one(session, session.api.patch(f"/api/v1/app/{app_id}", body), "application")


@app_group.command("delete")
@app_argument
@api_command
def app_delete(session: Session, app_id: str) -> None:
    """Delete an application with its endpoints and messages."""
    session.api.delete(f"/api/v1/app/{app_id}")
    done(session, f"deleted application {app_id}")
