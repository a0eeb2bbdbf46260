"""``login``, ``logout`` and ``profiles`` against a real server: the token is checked before
it is saved, the file is 0600, and the token is printed nowhere; errors reaching the
server are one line with a hint; the installed console script works end to end."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
from api_helpers import TOKEN
from cli_server import Cli, ThreadedServer

NO_ENV: dict[str, str | None] = {"HOOKLINE_URL": None, "HOOKLINE_TOKEN": None}


def test_login_checks_saves_0600_and_the_profile_then_works(
    cli: Cli, server: ThreadedServer, tmp_path: Path
) -> None:
    config = tmp_path / "cfg" / "config.toml"
    env = {**NO_ENV, "HOOKLINE_CONFIG": str(config)}
    result = cli.run("login", "--profile", "lab", "--url", server.url, input=f"{TOKEN}\n", **env)
    assert "logged in" in result.stdout and "the whole server" in result.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert TOKEN in config.read_text()  # stored, but never shown

    cli.run("app", "create", "--name", "Lab", "--uid", "lab", "--profile", "lab", **env)
    listed = json.loads(cli.run("app", "list", "--json", "--profile", "lab", **env).stdout)
    assert "lab" in [a["uid"] for a in listed["data"]]
    assert cli.run("profiles", **env).stdout == f"lab\t{server.url}\n"
    # the default profile was never saved: a clear hint, no traceback
    missing = cli.run("app", "list", ok=False, **env)
    assert "hookline login" in missing.stderr

    with_url = {**env, "HOOKLINE_URL": server.url}
    cli.run("login", "--profile", "other", "--token-stdin", input=f"{TOKEN}\n", **with_url)
    assert cli.run("profiles", **env).stdout.splitlines() == [
        f"lab\t{server.url}",
        f"other\t{server.url}",
    ]
    assert "logged out" in cli.run("logout", "--profile", "lab", **env).stdout
    assert cli.run("profiles", **env).stdout == f"other\t{server.url}\n"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    cli.run("logout", "--profile", "lab", ok=False, **env)


def test_a_wrong_token_is_refused_and_not_saved(
    cli: Cli, server: ThreadedServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    env = {**NO_ENV, "HOOKLINE_CONFIG": str(config)}
    result = cli.run(
        "login", "--url", server.url, "--token-stdin", input="wrong-token\n", ok=False, **env
    )
    assert result.stderr.startswith("error: not saved: ") and "wrong-token" not in result.output
    assert not config.exists()


def test_401_and_a_refused_connection_are_one_line_with_a_hint(cli: Cli) -> None:
    denied = cli.run("app", "list", ok=False, HOOKLINE_TOKEN="wrong-token")
    assert denied.stderr.startswith("error: ") and "hookline login" in denied.stderr
    assert len(denied.stderr.splitlines()) == 1
    refused = cli.run("app", "list", ok=False, HOOKLINE_URL="http://127.0.0.1:1")
    assert refused.stderr.startswith("error: cannot connect to http://127.0.0.1:1")
    assert "hookline login" in refused.stderr and "Traceback" not in refused.output


def test_the_installed_console_script_logs_in_and_lists(
    server: ThreadedServer, tmp_path: Path
) -> None:
    script = Path(sys.executable).parent / "hookline"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env["HOOKLINE_CONFIG"] = str(tmp_path / "config.toml")

    def hookline(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(script), *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
        )
        assert TOKEN not in done.stdout + done.stderr
        assert done.returncode == 0, done.stderr
        return done

    hookline("login", "--url", server.url, "--token-stdin", stdin=f"{TOKEN}\n")
    listing = hookline("app", "list", "--json")
    assert listing.stderr == ""  # no log lines about requests
    listed = json.loads(listing.stdout)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    direct = httpx.get(f"{server.url}/api/v1/app", headers=headers).json()
    assert listed == direct and "done" in listed
