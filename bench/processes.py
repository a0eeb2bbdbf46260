"""The processes a benchmark starts, and their trees: RSS per process, CPU over all.

Everything a scenario starts goes through :func:`start_process`, which registers it;
:func:`stop_all` (called on every exit path of ``python -m bench``) ends whatever is
still running, by process id (or by the process group of a process started in its own
session, such as Celery's prefork pool), children of a supervising parent included.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import API_TOKEN, HOOKLINE, REPO, Deadline, ScenarioTimeout, log


def status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` field of /proc/PID/status (VmHWM, VmRSS), or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name; index 0 is field 3 (state)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_name(pid: int) -> str:
    """A short name: a child's ``--name`` or ``--role``, ``hookline <command>``, or the
    command name."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    for flag in ("--name", "--role"):
        if flag in argv[:-1]:
            return argv[argv.index(flag) + 1]
    for i, arg in enumerate(argv[:-1]):
        if arg.endswith("hookline") or (arg == "-m" and argv[i + 1] == "hookline"):
            rest = [a for a in argv[i + 1 :] if a and not a.startswith("-") and a != "hookline"]
            words = [a for a in rest if a in ("serve", "worker", "child")]
            return f"hookline {words[0]}" if words else "hookline"
    return comm


def process_cpu_seconds(pid: int, reaped: bool = False) -> float | None:
    """utime + stime (+ cutime + cstime with ``reaped``) of one process, in seconds."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    ticks = sum(int(v) for v in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid``: from /proc/PID/task/*/children where the kernel has
    it, else by scanning /proc for parent ids."""
    out: list[int] = []
    try:
        todo = [pid]
        while todo:
            parent = todo.pop()
            for task in Path(f"/proc/{parent}/task").iterdir():
                for word in (task / "children").read_text().split():
                    out.append(int(word))
                    todo.append(int(word))
        return out
    except FileNotFoundError:
        out = []  # a process went away mid-walk, or a kernel without the children file
    except OSError:
        return out
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@dataclass(eq=False)
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    own_group: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tree(self) -> list[int]:
        """This process and every live descendant (a supervising parent's children)."""
        return [self.pid, *descendants(self.pid)] if self.alive() else []

    def tree_peaks(self) -> list[dict[str, Any]]:
        """Per process of the tree: pid, command name and peak RSS (VmHWM) so far."""
        out = []
        for pid in self.tree():
            kb = status_kb(pid, "VmHWM")
            if kb is not None:
                out.append({"pid": pid, "name": process_name(pid), "peak_rss_mb": kb / 1024})
        return out

    def peak_rss_mb(self) -> float | None:
        """The largest VmHWM (peak resident set size) of any process of the tree so far."""
        peaks = [p["peak_rss_mb"] for p in self.tree_peaks()]
        return max(peaks) if peaks else None

    def rss_mb(self) -> float | None:
        """The resident set size of the whole tree now."""
        kbs = [status_kb(pid, "VmRSS") for pid in self.tree()]
        known = [kb for kb in kbs if kb is not None]
        return sum(known) / 1024 if known else None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the tree so far: live processes and the children
        they reaped (a child that exits unreaped by the tree is lost)."""
        times = [process_cpu_seconds(pid, reaped=True) for pid in self.tree()]
        known = [t for t in times if t is not None]
        return sum(known) if known else None

    def kill_children(self) -> None:
        """SIGKILL to the descendants (by pid), so none outlives a killed parent."""
        for pid in descendants(self.pid) if self.alive() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def signal(self, sig: int) -> None:
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            if self.own_group:
                os.killpg(self.pid, sig)
            else:
                self.popen.send_signal(sig)

    async def stop(self, grace: float = 10.0) -> float:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns seconds to exit.

        SIGTERM goes to the process alone, so a leader such as Celery's main process
        shuts its pool down and reaps it (its CPU time then counts as ours); SIGKILL
        goes to the whole group."""
        started = time.monotonic()
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
        while self.alive() and time.monotonic() - started < grace:
            await asyncio.sleep(0.05)
        if self.alive():
            log(f"{self.name} (pid {self.pid}) ignored SIGTERM for {grace:.0f} s; killing it")
            self.kill_children()
            self.signal(signal.SIGKILL)
            while self.alive() and time.monotonic() - started < grace + 5:
                await asyncio.sleep(0.05)
        if self.own_group:  # children of a process group leader, e.g. Celery's pool
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        _registry.discard(self)
        return time.monotonic() - started

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


_registry: set[Proc] = set()


def _clean_env() -> dict[str, str]:
    """This environment without ``HOOKLINE_*``: a row's settings are only what it names."""
    inherited = sorted(k for k in os.environ if k.startswith("HOOKLINE_"))
    if inherited and not _warned:
        _warned.append(True)
        log(f"warning: ignoring {', '.join(inherited)} from the environment")
    return {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}


_warned: list[bool] = []


def start_process(
    name: str,
    argv: Sequence[str | Path],
    log_dir: Path,
    env: dict[str, str] | None = None,
    own_group: bool = False,
) -> Proc:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as out:
        popen = subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**_clean_env(), **(env or {})},
            cwd=REPO,
            start_new_session=own_group,
        )
    proc = Proc(name, popen, log_path, own_group)
    _registry.add(proc)
    return proc


def stop_all() -> None:
    """Synchronous last resort: kill every process the harness started and still runs."""
    for proc in list(_registry):
        proc.signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    for proc in list(_registry):
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.kill_children()
        proc.signal(signal.SIGKILL)
        if proc.own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.popen.wait(timeout=5)
    _registry.clear()


def hookline_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """What a user sets: where the data lives and the admin token (so the harness can
    call the API). Anything else is a tuned setting its row names (``extra``)."""
    return {"HOOKLINE_DATA_DIR": str(data_dir), "HOOKLINE_API_TOKEN": API_TOKEN, **extra}


def _has_option(command: str, option: str) -> bool:
    """Whether ``hookline COMMAND --help`` lists ``option`` (a newer CLI may add it)."""
    key = (command, option)
    if key not in _OPTIONS:
        try:
            out = subprocess.run(
                [str(HOOKLINE), command, "--help"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env=_clean_env(),
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        _OPTIONS[key] = option in out
    return _OPTIONS[key]


_OPTIONS: dict[tuple[str, str], bool] = {}


def start_worker(
    data_dir: Path,
    log_dir: Path,
    name: str,
    processes: int | None = 1,
    env: dict[str, str] | None = None,
) -> list[Proc]:
    """``hookline worker --dev`` with ``processes`` worker processes: ``--workers N``
    where the CLI has it, else N separate ``hookline worker`` processes on the same
    database. ``None``: the CLI's own default."""
    argv: list[str | Path] = [HOOKLINE, "--log-level", "warning", "worker", "--dev"]
    if processes is None:
        return [start_process(name, argv, log_dir, hookline_env(data_dir, **(env or {})))]
    if _has_option("worker", "--workers"):
        argv += ["--workers", str(processes)]
        return [start_process(name, argv, log_dir, hookline_env(data_dir, **(env or {})))]
    return [
        start_process(
            name if i == 0 else f"{name}-{i}", argv, log_dir, hookline_env(data_dir, **(env or {}))
        )
        for i in range(processes)
    ]


def start_server(
    data_dir: Path,
    port: int,
    log_dir: Path,
    name: str,
    workers: int | None = None,
    no_worker: bool = False,
    env: dict[str, str] | None = None,
) -> Proc:
    """``hookline serve --dev`` (``--dev`` only to allow loopback endpoints); ``workers``
    passes ``--workers N`` where the CLI has it."""
    argv: list[str | Path] = [HOOKLINE, "--log-level", "warning", "serve", "--dev"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    if workers is not None and _has_option("serve", "--workers"):
        argv += ["--workers", str(workers)]
    if no_worker:
        argv.append("--no-worker")
    return start_process(name, argv, log_dir, hookline_env(data_dir, **(env or {})))


async def wait_http(
    session: aiohttp.ClientSession, url: str, deadline: Deadline, proc: Proc | None = None
) -> None:
    """Until ``url`` answers below 500; raises if the process dies or time runs out."""
    while not deadline.expired:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status < 500:
                    return
        await asyncio.sleep(0.1)
    raise ScenarioTimeout(f"{url} did not answer in time")
