"""``hookline login``, ``logout`` and ``profiles``: where the CLI's server and token live.

A token is a password: it is read from a hidden prompt or stdin (never an argument, which
``ps`` and shell history would keep), checked against the server before it is saved, and
never printed.
"""

from __future__ import annotations

import os
import sys

import click

from hookline.cli import profiles
from hookline.cli.client import Api, CliError
from hookline.cli.root import main


def _profile_name(profile: str | None) -> str:
    return profile or os.environ.get("HOOKLINE_PROFILE") or profiles.DEFAULT_PROFILE


@main.command()
@click.option("--profile", default=None, help="Name to save it under [default: default].")
@click.option("--url", default=None, help="The server [env HOOKLINE_URL; 127.0.0.1:8000].")
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input.")
def login(profile: str | None, url: str | None, token_stdin: bool) -> None:
    """Save a server URL and API token as a profile, after checking them."""
    name = _profile_name(profile)
    server = (url or os.environ.get("HOOKLINE_URL") or profiles.DEFAULT_URL).rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--url")
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("API token", hide_input=True, err=True).strip()
    if not token:
        raise CliError("no token given")
    api = Api(server, token)
    try:
        who = api.get("/api/v1/auth/whoami")
    except CliError as exc:
        raise CliError(f"not saved: {exc.message}") from None
    finally:
        api.close()
    try:
        path = profiles.save(name, server, token)
    except (OSError, profiles.ProfileError) as exc:
        raise CliError(f"cannot save the profile: {exc}") from None
    scope = f"application {who['appId']}" if who.get("appId") else "the whole server"
    click.echo(f"logged in to {server} as profile {name!r} ({scope}); saved in {path}")


@main.command()
@click.option("--profile", default=None, help="The profile to forget [default: default].")
def logout(profile: str | None) -> None:
    """Forget a profile's server and token."""
    name = _profile_name(profile)
    try:
        removed = profiles.remove(name)
    except profiles.ProfileError as exc:
        raise CliError(str(exc)) from None
    if not removed:
        raise CliError(f"no profile {name!r}")
    click.echo(f"logged out of profile {name!r}")


@main.command("profiles")
def list_profiles() -> None:
    """The saved profiles and their servers (never their tokens)."""
    try:
        found = profiles.profile_urls()
    except profiles.ProfileError as exc:
        raise CliError(str(exc)) from None
    if not found:
        click.echo("no profiles: run `hookline login`")
        return
    for name, url in found.items():
        click.echo(f"{name}\t{url}")
