"""``hookline event-type`` (the catalogue, OpenAPI import included) and ``hookline task``
(background tasks: recoveries, replays, purges)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hookline.cli.client import CliError, Session, api_command, drop_none, list_options
from hookline.cli.client import parse_json as parse_json_arg
from hookline.cli.output import done, show_list, show_one, wait_task
from hookline.cli.root import main

ET = "/api/v1/event-type"
TASKS = "/api/v1/background-task"
ET_COLUMNS = (
    ("name", "name"),
    ("description", "description"),
    ("groupName", "group"),
    ("deprecated", "deprecated"),
    ("archived", "archived"),
)
TASK_COLUMNS = (
    ("id", "id"),
    ("task", "task"),
    ("status", "status"),
    ("data", "data"),
    ("updatedAt", "updated"),
)


def _schema(schema: str | None) -> dict[str, Any] | None:
    """``--schema`` is a JSON Schema; the API keys schemas by version, "1"."""
    if schema is None:
        return None
    parsed = parse_json_arg(schema, "--schema")
    if not isinstance(parsed, dict):
        raise CliError("--schema must be a JSON object")
    return {"1": parsed}


@main.group("event-type")
def event_type_group() -> None:
    """The event-type catalogue: list, create, get, update, delete, import OpenAPI."""


@event_type_group.command("list")
@click.option("--include-archived", is_flag=True)
@list_options
@api_command
def et_list(
    session: Session, include_archived: bool, limit: int | None, iterator: str | None
) -> None:
    """List event types."""
    body = session.api.get(
        ET, limit=limit, iterator=iterator, include_archived=include_archived or None
    )
    show_list(session, body, ET_COLUMNS, "event types")


@event_type_group.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.option("--schema", default=None, help="JSON Schema of the payload: JSON or @file.")
@click.option("--group", default=None)
@api_command
def et_create(
    session: Session, name: str, description: str, schema: str | None, group: str | None
) -> None:
    """Create an event type."""
    body = drop_none(name=name, description=description, schemas=_schema(schema), groupName=group)
    show_one(session, session.api.post(ET, body), "event type")


@event_type_group.command("get")
@click.argument("name")
@api_command
def et_get(session: Session, name: str) -> None:
    """Show one event type."""
    show_one(session, session.api.get(f"{ET}/{name}"), "event type")


@event_type_group.command("update")
@click.argument("name")
@click.option("--description", default=None)
@click.option("--schema", default=None, help="JSON Schema of the payload: JSON or @file.")
@click.option("--group", default=None)
@click.option("--deprecated/--not-deprecated", default=None)
@click.option("--archived/--not-archived", default=None)
@api_command
def et_update(
    session: Session,
    name: str,
    description: str | None,
    schema: str | None,
    group: str | None,
    deprecated: bool | None,
    archived: bool | None,
) -> None:
    """Change the given fields of an event type."""
    body = drop_none(
        description=description,
        schemas=_schema(schema),
        groupName=group,
        deprecated=deprecated,
        archived=archived,
    )
    show_one(session, session.api.patch(f"{ET}/{name}", body), "event type")


@event_type_group.command("delete")
@click.argument("name")
@click.option("--expunge", is_flag=True, help="Delete it for good instead of archiving it.")
@api_command
def et_delete(session: Session, name: str, expunge: bool) -> None:
    """Archive (or, with --expunge, delete) an event type."""
    session.api.request("DELETE", f"{ET}/{name}", params={"expunge": expunge or None})
    done(session, f"{'deleted' if expunge else 'archived'} event type {name}")


@event_type_group.command("import")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--replace-all", is_flag=True, help="Archive the event types not in the file.")
@api_command
def et_import(session: Session, spec_file: Path, dry_run: bool, replace_all: bool) -> None:
    """Import event types from an OpenAPI document's webhooks (JSON or YAML)."""
    try:
        raw = spec_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {spec_file}: {exc}") from None
    # the server parses JSON and YAML alike (specRaw), so the file goes as it is
    body = {"specRaw": raw, "dryRun": dry_run, "replaceAll": replace_all}
    result = session.api.post(f"{ET}/import/openapi", body)
    if session.as_json:
        show_one(session, result)
        return
    data = result.get("data", {})
    verb = "would change" if dry_run else "changed"
    names = [t["name"] for t in data.get("to_modify") or []] if dry_run else data["modified"]
    done(session, f"{verb} {len(names)} event type(s): {', '.join(names) or '-'}")


@main.group("task")
def task_group() -> None:
    """Background tasks (recover, replay, purge): list, show, wait."""


@task_group.command("list")
@click.option("--status", type=click.Choice(["running", "finished", "failed"]), default=None)
@click.option("--task", "kind", default=None, help="e.g. endpoint.recover")
@list_options
@api_command
def task_list(
    session: Session, status: str | None, kind: str | None, limit: int | None, iterator: str | None
) -> None:
    """List background tasks."""
    body = session.api.get(TASKS, status=status, task=kind, limit=limit, iterator=iterator)
    show_list(session, body, TASK_COLUMNS, "background tasks")


@task_group.command("get")
@click.argument("task_id")
@click.option("--wait", is_flag=True, help="Follow it until it ends.")
@api_command
def task_get(session: Session, task_id: str, wait: bool) -> None:
    """Show a background task (and, with --wait, follow it to its end)."""
    task = session.api.get(f"{TASKS}/{task_id}")
    if wait:
        wait_task(session, task, True)
    else:
        show_one(session, task, "task")
