"""The actions file (``HOOKLINE_ACTIONS_FILE``): local commands an endpoint may run.

Actions are declared only here, by whoever runs the server, never through the API: an
API client can only attach an endpoint to a declared name (``action://NAME``). The file
is TOML, validated whole at start-up, and the server refuses to start on any error::

    [actions.deploy]
    command = ["/usr/bin/env", "python3", "deploy.py"]  # argv, never a shell
    args = ["--ref", { jmespath = "payload.ref" }]     # each expression fills one argument
    timeout = "30s"
    concurrency = 2
    workdir = "/srv/app"
    env = { DEPLOY_ENV = "prod" }
    stdin = "payload"
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hookline.config import parse_duration
from hookline.filters import InvalidFilter, compile_filter

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_ARGS = 256
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONCURRENCY = 1
# An action's run plus the wait for its slot must end inside the delivery's lease, or its
# result would be dropped as stale; this much of the lease is kept free of the timeout.
LEASE_HEADROOM_S = 5.0
_KEYS = frozenset({"command", "args", "timeout", "concurrency", "workdir", "env", "stdin"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ActionsFileError(ValueError):
    """The actions file cannot be read or is invalid; the message names the place."""


@dataclass(frozen=True, slots=True)
class Expression:
    """An argument filled from the event: a JMESPath expression's value, as one string."""

    jmespath: str


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    command: tuple[str, ...]
    args: tuple[str | Expression, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_S
    concurrency: int = DEFAULT_CONCURRENCY
    workdir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    stdin_payload: bool = False


def load_actions(path: Path, max_timeout: float | None = None) -> dict[str, ActionSpec]:
    """Every action the file declares; ``ActionsFileError`` for the first problem found.
    ``max_timeout`` is the longest timeout the delivery lease leaves room for."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ActionsFileError(f"actions file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ActionsFileError(f"actions file {path}: not valid TOML: {exc}") from None
    return parse_actions(raw, str(path), max_timeout)


def parse_actions(
    raw: Mapping[str, Any], source: str, max_timeout: float | None = None
) -> dict[str, ActionSpec]:
    unknown = sorted(set(raw) - {"actions"})
    if unknown:
        raise ActionsFileError(
            f"{source}: unknown top-level key(s) {unknown}; expected [actions.NAME]"
        )
    tables = raw.get("actions", {})
    if not isinstance(tables, dict):
        raise ActionsFileError(f"{source}: 'actions' must be a table of [actions.NAME] tables")
    specs = {}
    for name, table in tables.items():
        where = f"{source}: actions.{name}"
        if not NAME.match(name):
            raise ActionsFileError(f"{where}: a name is 1-64 letters, digits, '_', '.' or '-'")
        if not isinstance(table, dict):
            raise ActionsFileError(f"{where}: must be a table")
        specs[name] = _spec(name, table, where, max_timeout)
    return specs


def _spec(name: str, table: Mapping[str, Any], where: str, max_timeout: float | None) -> ActionSpec:
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ActionsFileError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    return ActionSpec(
        name=name,
        command=_command(table.get("command"), where),
        args=_args(table.get("args", []), where),
        timeout=_timeout(table.get("timeout", DEFAULT_TIMEOUT_S), where, max_timeout),
        concurrency=_concurrency(table.get("concurrency", DEFAULT_CONCURRENCY), where),
        workdir=_workdir(table.get("workdir"), where),
        env=_env(table.get("env", {}), where),
        stdin_payload=_stdin(table.get("stdin"), where),
    )


def _command(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ActionsFileError(f"{where}.command: a non-empty list of strings (argv, no shell)")
    if any("\0" in v for v in value):
        raise ActionsFileError(f"{where}.command: an argument holds a NUL character")
    program = value[0]
    if not os.path.isabs(program):
        raise ActionsFileError(f"{where}.command: {program!r} is not an absolute path")
    if not os.path.isfile(program) or not os.access(program, os.X_OK):
        raise ActionsFileError(f"{where}.command: {program!r} is not an executable file")
    return tuple(value)


def _args(value: object, where: str) -> tuple[str | Expression, ...]:
    if not isinstance(value, list) or len(value) > MAX_ARGS:
        raise ActionsFileError(f"{where}.args: a list of at most {MAX_ARGS} arguments")
    args: list[str | Expression] = []
    for i, arg in enumerate(value):
        if isinstance(arg, str):
            if "\0" in arg:
                raise ActionsFileError(f"{where}.args[{i}]: holds a NUL character")
            args.append(arg)
            continue
        if not isinstance(arg, dict) or set(arg) != {"jmespath"}:
            raise ActionsFileError(f'{where}.args[{i}]: a string or {{ jmespath = "..." }}')
        expression = arg["jmespath"]
        if not isinstance(expression, str):
            raise ActionsFileError(f"{where}.args[{i}].jmespath: must be a string")
        try:
            compile_filter(expression)
        except InvalidFilter as exc:
            raise ActionsFileError(f"{where}.args[{i}].jmespath: {exc}") from None
        args.append(Expression(expression))
    return tuple(args)


def _timeout(value: object, where: str, max_timeout: float | None) -> float:
    try:
        seconds = float(parse_duration(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds > 0 or seconds == float("inf"):
        raise ActionsFileError(f'{where}.timeout: {value!r} is not a duration like 30 or "30s"')
    if max_timeout is not None and seconds > max_timeout:
        raise ActionsFileError(
            f"{where}.timeout: {seconds:g}s is over {max_timeout:g}s; the delivery lease"
            f" (HOOKLINE_LEASE_SECONDS) must exceed it by {LEASE_HEADROOM_S:g}s"
        )
    return seconds


def _concurrency(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise ActionsFileError(f"{where}.concurrency: a whole number from 1 to 1000")
    return value


def _workdir(value: object, where: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not os.path.isabs(value):
        raise ActionsFileError(f"{where}.workdir: must be an absolute path")
    if not os.path.isdir(value):
        raise ActionsFileError(f"{where}.workdir: {value!r} is not a directory")
    return Path(value)


def _env(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ActionsFileError(f'{where}.env: a table of NAME = "value"')
    for key, item in value.items():
        if not _ENV_NAME.match(key) or not isinstance(item, str) or "\0" in item:
            raise ActionsFileError(f'{where}.env.{key}: a NAME = "string value" pair')
    return dict(value)


def _stdin(value: object, where: str) -> bool:
    if value is None:
        return False
    if value != "payload":
        raise ActionsFileError(f'{where}.stdin: the only value is "payload"')
    return True
