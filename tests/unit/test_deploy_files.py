"""The deployment examples stay runnable: docker-compose.yml parses and wires every
hookline service to the shared settings, the systemd units and the compose commands name
commands and options the CLI has, and every ``HOOKLINE_*`` the guide and the examples
mention is a setting. No Docker engine or systemd is needed: the files are read."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import click
import yaml

from hookline.cli import main
from hookline.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "deployment.md"
SHARED = {"HOOKLINE_DATABASE_URL", "HOOKLINE_API_TOKEN", "HOOKLINE_SECRET_KEY"}
VARIABLE = re.compile(r"\bHOOKLINE_[A-Z_]+\b")


def compose() -> dict[str, dict[str, object]]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services: dict[str, dict[str, object]] = data["services"]
    return services


def check_command(argv: list[str]) -> None:
    """``argv`` (after the program name) is a command of the CLI with options it takes."""
    command = main.get_command(click.Context(main), argv[0])
    assert command is not None, f"hookline has no command {argv[0]!r}"
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in argv[1:]:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in known, f"hookline {argv[0]} has no option {word}"


def test_compose_services_share_the_settings_and_run_real_commands() -> None:
    services = compose()
    hookline = {name: s for name, s in services.items() if name != "postgres"}
    assert {"postgres", "migrate", "api-1", "api-2", "worker"} <= set(services)
    commands = {name: list(s["command"]) for name, s in hookline.items()}  # type: ignore[call-overload]
    assert commands["migrate"] == ["migrate"]
    assert commands["api-1"] == commands["api-2"] == ["serve", "--no-worker"]
    assert commands["worker"] == ["worker"]
    for name, service in hookline.items():
        env = service["environment"]
        assert isinstance(env, dict)
        assert SHARED <= set(env), f"{name} lacks {SHARED - set(env)}"
        check_command(commands[name])
        if name != "migrate":  # every process starts after the migration succeeded
            depends = service["depends_on"]
            assert isinstance(depends, dict)
            assert depends["migrate"]["condition"] == "service_completed_successfully"
    # one worker runs maintenance, the scaled ones do not
    maintenance = [
        name
        for name, s in hookline.items()
        if commands[name] == ["worker"]
        and s["environment"].get("HOOKLINE_RUN_MAINTENANCE", "true") != "false"  # type: ignore[attr-defined]
    ]
    assert maintenance == ["worker-main"]


def test_systemd_units_run_real_commands() -> None:
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {"hookline-api.service", "hookline-worker@.service"}
    for unit in units:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment, method-assign]
        parser.read_string(unit.read_text())
        argv = shlex.split(parser["Service"]["ExecStart"])
        assert argv[0].endswith("/hookline"), unit.name
        check_command(argv[1:])
        assert parser["Service"]["EnvironmentFile"], unit.name


def test_every_variable_mentioned_is_a_setting() -> None:
    settings = {f"HOOKLINE_{name.upper()}" for name in Settings.model_fields}
    texts = [GUIDE, DEPLOY / "docker-compose.yml", *(DEPLOY / "systemd").glob("*.service")]
    mentioned = {v for path in texts for v in VARIABLE.findall(path.read_text())}
    assert SHARED <= mentioned
    assert mentioned - settings == set()
