"""``hookline signature sign|verify`` (Standard Webhooks, offline) and ``hookline
completion bash|zsh|fish``."""

from __future__ import annotations

import json
import secrets
import sys
import time

import click
from click.shell_completion import get_completion_class

from hookline.cli.client import CliError, read_arg
from hookline.cli.root import main
from hookline.errors import SignatureError
from hookline.signing import InvalidSecret, Webhook

COMPLETE_VAR = "_HOOKLINE_COMPLETE"


def _webhook(secret: str) -> Webhook:
    try:
        return Webhook(secret)
    except InvalidSecret as exc:
        raise click.BadParameter(str(exc), param_hint="--secret") from None


def _body(payload: str | None) -> bytes:
    """``--payload`` text or ``@file``, else standard input; the exact bytes are signed."""
    if payload is None:
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        try:
            with open(payload[1:], "rb") as f:
                return f.read()
        except OSError as exc:
            raise CliError(f"cannot read {payload[1:]}: {exc.strerror}") from None
    return read_arg(payload, "--payload").encode()


@main.group("signature")
def signature_group() -> None:
    """Sign and verify Standard Webhooks signatures locally."""


@signature_group.command("sign")
@click.option("--secret", required=True, help="whsec_... (HMAC) or whsk_... (ed25519).")
@click.option("--id", "msg_id", default=None, help="webhook-id [default: a new msg_ id].")
@click.option("--timestamp", type=int, default=None, help="Unix seconds [default: now].")
@click.option("--payload", default=None, help="The body, or @file [default: stdin].")
@click.option("--json", "as_json", is_flag=True, help="The headers as a JSON object.")
def sign(
    secret: str, msg_id: str | None, timestamp: int | None, payload: str | None, as_json: bool
) -> None:
    """Print the webhook-id, webhook-timestamp and webhook-signature headers for a body."""
    webhook = _webhook(secret)
    if not webhook.secret.can_sign:
        raise click.BadParameter("a public key (whpk_) cannot sign", param_hint="--secret")
    msg_id = msg_id or f"msg_{secrets.token_hex(12)}"
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": webhook.sign(msg_id, ts, _body(payload)),
    }
    if as_json:
        click.echo(json.dumps(headers, indent=2))
    else:
        for name, value in headers.items():
            click.echo(f"{name}: {value}")


@signature_group.command("verify")
@click.option("--secret", required=True, help="whsec_..., whsk_... or whpk_...")
@click.option(
    "--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="Repeat for each."
)
@click.option("--payload", default=None, help="The body, or @file [default: stdin].")
@click.option("--now", type=int, default=None, help="Unix seconds to check the time against.")
def verify(secret: str, headers: tuple[str, ...], payload: str | None, now: int | None) -> None:
    """Check a signature: exit 0 if valid, 1 with the reason if not."""
    webhook = _webhook(secret)
    parsed: dict[str, str] = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{header!r} is not 'name: value'", param_hint="--header")
        parsed[name.strip().lower()] = value.strip()
    try:
        webhook.verify(_body(payload), parsed, now=now)
    except SignatureError as exc:
        raise CliError(f"signature invalid: {exc}") from None
    click.echo("signature OK")


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. eval "$(hookline completion bash)"."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - the three are built into Click
        raise CliError(f"no completion for {shell}")
    click.echo(cls(main, {}, "hookline", COMPLETE_VAR).source())
