"""Processes of a hookline cluster on one PostgreSQL: API-only and worker-only processes
sharing the database URL, the admin token and the at-rest key through the environment,
each with a data folder of its own, as on separate machines."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import hookline
from hookline.signing.at_rest import generate_key
from hookline.testing.ports import free_port

SRC_DIR = Path(hookline.__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0  # five interpreters importing at once on a shared 2-core machine
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 60


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    base_url: str = ""  # API processes only

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.text().splitlines()[-lines:])


@dataclass
class Cluster:
    """Starts and stops the processes; every one it started is stopped by ``stop_all``."""

    root: Path
    database_url: str
    env: Mapping[str, str]
    token: str = field(default_factory=lambda: "hk_" + secrets.token_hex(16))
    secret_key: str = field(default_factory=generate_key)
    procs: list[Proc] = field(default_factory=list)

    def _env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
        env |= dict(self.env)
        env |= {
            "HOOKLINE_DATABASE_URL": self.database_url,
            "HOOKLINE_API_TOKEN": self.token,
            "HOOKLINE_SECRET_KEY": self.secret_key,
            "HOOKLINE_DATA_DIR": str(self.root / name),
        }
        return env

    def _spawn(self, name: str, args: list[str], base_url: str = "") -> Proc:
        log = self.root / f"{name}.log"
        argv = [sys.executable, "-m", "hookline", *args]
        # a file, not a pipe: nobody drains a pipe during the run, and a full one stalls
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self._env(name),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, popen, log, base_url)
        self.procs.append(proc)
        return proc

    def start_api(self, name: str) -> Proc:
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--dev", "--no-worker"]
        return self._spawn(name, args, f"http://127.0.0.1:{port}")

    def start_worker(self, name: str) -> Proc:
        return self._spawn(name, ["worker", "--dev"])

    def wait_ready(self) -> None:
        """Until every API answers its health check and every worker printed its banner."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        waiting = list(self.procs)
        while waiting:
            for proc in list(waiting):
                if not proc.alive():
                    pytest.fail(f"{proc.name} exited during startup\n{proc.tail()}")
                if _ready(proc):
                    waiting.remove(proc)
            if time.monotonic() > deadline:
                pytest.fail(f"not ready after {STARTUP_TIMEOUT}s: {[p.name for p in waiting]}")
            time.sleep(0.1)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def report(self) -> str:
        """Every process's exit status and the tail of its output, for a failure."""
        parts = []
        for proc in self.procs:
            status = "running" if proc.alive() else f"exited {proc.popen.returncode}"
            parts.append(f"--- {proc.name} ({status}) ---\n{proc.tail()}")
        return "\n".join(parts)


def distinct_errors(server_log: str, limit: int = 15) -> str:
    """PostgreSQL's ERROR lines, each with its statement, once each (without the time and
    process id that make every repeat unique)."""
    seen: dict[str, None] = {}
    lines = server_log.splitlines()
    for i, line in enumerate(lines):
        _, sep, message = line.partition(" ERROR:  ")
        if not sep:
            continue
        statement = ""
        for following in lines[i + 1 : i + 4]:  # after any DETAIL and HINT
            _, sep, text = following.partition(" STATEMENT:  ")
            if sep:
                statement = f"\n    in: {text[:300]}"
                break
        seen.setdefault(message + statement)
    return "\n".join(list(seen)[:limit])


def _ready(proc: Proc) -> bool:
    if not proc.base_url:
        return "SSRF guard" in proc.text()
    try:
        return httpx.get(proc.base_url + "/api/v1/health", timeout=1.0).is_success
    except httpx.TransportError:
        return False
