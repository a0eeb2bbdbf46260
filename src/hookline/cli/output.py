"""How the CLI prints: Rich tables and panels for people, the server's JSON for scripts,
and a progress display while a background task runs.

Ids are never cut (a truncated id cannot be pasted back), and when stdout is not a
terminal the width is fixed, so piped and tested output is stable.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from hookline.cli.client import Api, CliError, Session

PIPE_WIDTH = 200
IDS = frozenset({"id", "uid", "msgId", "endpointId", "eventId"})
TASK_POLL = 0.2  # seconds between reads of a running background task


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def echo_json(body: Any) -> None:
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))


def cell(value: Any) -> Text:
    """A value as plain text: names and payloads are data, never Rich markup."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | dict):
        return Text(json.dumps(value, ensure_ascii=False) if value else "")
    return Text(str(value))


def show_list(
    session: Session, body: dict[str, Any], columns: Sequence[tuple[str, str]], title: str
) -> None:
    """A list page: ``columns`` are (field, heading); the next iterator goes after it."""
    if session.as_json:
        echo_json(body)
        return
    table = Table(title=title, title_justify="left")
    rows = body.get("data", [])
    for key, heading in columns:
        # an id must stay whole on one line, to be copied: its column is never narrower
        # than its longest id (Rich's no_wrap would cut it short on a narrow terminal)
        whole = max((len(str(r.get(key) or "")) for r in rows), default=0) if key in IDS else 0
        table.add_column(heading, overflow="fold", min_width=max(whole, len(heading)) or None)
    for row in rows:
        table.add_row(*(cell(row.get(key)) for key, _ in columns))
    out = console()
    out.print(table)
    if not body.get("done", True) and body.get("iterator"):
        out.print(f"more: --iterator {body['iterator']}", markup=False)


def show_one(session: Session, body: Any, title: str = "") -> None:
    """One object as key/value rows."""
    if session.as_json:
        echo_json(body)
        return
    if not isinstance(body, dict):
        console().print(cell(body))
        return
    table = Table(title=title or None, title_justify="left", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in body.items():
        table.add_row(Text(key), cell(value))
    console().print(table)


def done(session: Session, text: str, body: Any = None) -> None:
    """A change with no object to show (a delete): a line, or the body (if any) as JSON."""
    if session.as_json:
        if body is not None:
            echo_json(body)
        return
    console().print(text, markup=False)


def wait_task(session: Session, started: dict[str, Any], wait: bool) -> None:
    """Follows a background task until it is no longer running, with a spinner and its
    counters on stderr, then prints its final state (``--json``: the task's JSON)."""
    task = started
    if wait and task.get("status") == "running":
        task = _follow(session.api, task)
    if session.as_json:
        echo_json(task)
    else:
        _summary(task)
    if task.get("status") == "failed":
        raise CliError(f"task {task['id']} failed: {task.get('data', {}).get('error', '')}")


def _follow(api: Api, task: dict[str, Any]) -> dict[str, Any]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as progress:
        bar = progress.add_task(f"{task['task']} {task['id']}", total=None)
        while task.get("status") == "running":
            time.sleep(TASK_POLL)
            task = api.get(f"/api/v1/background-task/{task['id']}")
            data = task.get("data") or {}
            counts = ", ".join(
                f"{k} {v}"
                for k, v in data.items()
                if isinstance(v, int) and not isinstance(v, bool)
            )
            progress.update(bar, description=f"{task['task']} {task['id']}  {counts}")
    return task


def _summary(task: dict[str, Any]) -> None:
    data = task.get("data") or {}
    counts = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("done", "error"))
    line = f"task {task['id']} ({task.get('task')}): {task.get('status')}  {counts}"
    console().print(line, markup=False)
