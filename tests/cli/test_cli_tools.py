"""``signature``, ``completion``, and the CLI's light start-up (no server modules)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from hookline.cli import main

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
BODY = '{"type": "invoice.paid", "amount": 4200}'


def run(*args: str, input: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(main, list(args), input=input, env=env)


def test_sign_output_verifies_with_the_reference_library() -> None:
    now = int(time.time())
    result = run("signature", "sign", "--secret", SECRET, "--id", "msg_x",
                 "--timestamp", str(now), "--payload", BODY)  # fmt: skip
    assert result.exit_code == 0, result.output
    headers = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert headers["webhook-id"] == "msg_x" and headers["webhook-timestamp"] == str(now)
    assert ReferenceWebhook(SECRET).verify(BODY, headers) == json.loads(BODY)
    from_stdin = run("signature", "sign", "--secret", SECRET, "--id", "msg_x",
                     "--timestamp", str(now), "--json", input=BODY)  # fmt: skip
    assert json.loads(from_stdin.stdout) == headers


def test_verify_accepts_the_reference_signature_and_rejects_a_tampered_body() -> None:
    stamp = datetime.now(UTC)
    signature = ReferenceWebhook(SECRET).sign("msg_y", stamp, BODY)
    headers = [
        "--header", "webhook-id: msg_y",
        "--header", f"Webhook-Timestamp: {int(stamp.timestamp())}",
        "--header", f"webhook-signature: {signature}",
    ]  # fmt: skip
    good = run("signature", "verify", "--secret", SECRET, *headers, "--payload", BODY)
    assert good.exit_code == 0 and good.stdout == "signature OK\n"
    tampered = BODY.replace("4200", "4201")
    bad = run("signature", "verify", "--secret", SECRET, *headers, input=tampered)
    assert bad.exit_code != 0 and "signature invalid: no matching signature" in bad.stderr
    late = run("signature", "verify", "--secret", SECRET, *headers, "--payload", BODY,
               "--now", str(int(stamp.timestamp()) + 3600))  # fmt: skip
    assert late.exit_code != 0 and "too old" in late.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_hookline(shell: str) -> None:
    result = run("completion", shell)
    assert result.exit_code == 0, result.output
    assert "_HOOKLINE_COMPLETE" in result.stdout and "hookline" in result.stdout
    assert f"{shell}_complete" in result.stdout


def test_bash_completes_app_subcommands() -> None:
    result = CliRunner().invoke(
        main,
        [],
        prog_name="hookline",
        env={
            "_HOOKLINE_COMPLETE": "bash_complete",
            "COMP_WORDS": "hookline app ",
            "COMP_CWORD": "2",
        },
    )
    offered = {line.split(",", 1)[1] for line in result.stdout.splitlines()}
    assert {"list", "create", "get", "update", "delete"} <= offered


def test_importing_the_cli_loads_no_server_module() -> None:
    code = (
        "import sys, hookline.cli; "
        "print([m for m in ('fastapi', 'sqlalchemy', 'uvicorn', 'hookline.runtime') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
