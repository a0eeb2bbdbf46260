"""The inbound peer: adnanh's ``webhook`` (Debian package ``webhook``) on 127.0.0.1.

One hook that checks the same GitHub signature hookline checks (``payload-hmac-sha256``
over the body, from ``X-Hub-Signature-256``) and runs ``/bin/true``. A request whose
signature does not match gets 401 (``webhook`` answers 200 by default), so the client
counts only verified requests. ``webhook`` persists nothing.

Two modes, both of the peer's own making:

- ``async`` (``include-command-output-in-response: false``, the default): it answers,
  then runs the command in a goroutine; its fastest configuration.
- ``sync`` (``include-command-output-in-response: true``): it runs the command, then
  answers with the command's (empty) output.

It runs without ``-verbose``, so it logs nothing per request. The harness installs the
package with ``apt-get install -y webhook`` when it is missing (through ``sudo -n``
when not root and sudo is there); if that fails the peer is reported as unavailable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from bench.harness import Deadline, log
from bench.processes import Proc, start_process

HOOK_ID = "github"


def _apt(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if os.geteuid() != 0 and shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    return subprocess.run(
        [*prefix, "apt-get", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def ensure_installed(deadline: Deadline) -> str | None:
    """Install ``webhook`` when missing; returns why it cannot run, or None when it can."""
    if shutil.which("webhook"):
        return None
    log("inbound peer: installing webhook from apt")
    timeout = max(30.0, deadline.remaining())
    install = ["install", "-y", "-q", "webhook"]
    try:
        done = _apt(install, timeout)
        if done.returncode != 0:
            _apt(["update", "-q"], timeout)
            done = _apt(install, timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"apt-get install webhook failed: {exc}"
    if done.returncode != 0 or shutil.which("webhook") is None:
        return f"apt-get install webhook failed: {done.stderr.strip()[-300:]}"
    return None


def version() -> str:
    try:
        done = subprocess.run(
            ["webhook", "-version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (done.stdout or done.stderr).strip().removeprefix("webhook version ") or "unknown"


def hooks_file(folder: Path, secret: str, sync: bool) -> Path:
    hook = {
        "id": HOOK_ID,
        "execute-command": "/bin/true",
        "command-working-directory": str(folder),
        "include-command-output-in-response": sync,
        "response-message": "ok",
        "http-methods": ["POST"],
        "trigger-rule-mismatch-http-response-code": 401,
        "trigger-rule": {
            "match": {
                "type": "payload-hmac-sha256",
                "secret": secret,
                "parameter": {"source": "header", "name": "X-Hub-Signature-256"},
            }
        },
    }
    path = folder / f"hooks-{'sync' if sync else 'async'}.json"
    path.write_text(json.dumps([hook], indent=2))
    return path


def start(folder: Path, log_dir: Path, port: int, secret: str, sync: bool, name: str) -> Proc:
    folder.mkdir(parents=True, exist_ok=True)
    hooks = hooks_file(folder, secret, sync)
    argv = ["webhook", "-hooks", str(hooks), "-ip", "127.0.0.1", "-port", str(port)]
    return start_process(name, argv, log_dir)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/hooks/{HOOK_ID}"


def live_children(pid: int) -> int:
    """Child processes of ``pid`` still running (the peer's commands not yet finished)."""
    count = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            count += len(Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return count
