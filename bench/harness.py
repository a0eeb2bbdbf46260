"""Benchmark plumbing: processes, free ports, deadlines, RSS, the receiver, progress.

Everything a scenario starts goes through :func:`start_process`, which registers it;
:func:`stop_all` (called on every exit path of ``python -m bench``) ends whatever is
still running, by process id (or by the process group of a process started in its own
session, such as Celery's prefork pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOOKLINE = BIN / "hookline"

CEILING_CONCURRENCY = 64  # the bare senders' requests in flight
EVENT_TYPE = "invoice.paid"
API_TOKEN = "hk_bench_" + "x" * 32

_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stdout, with the time since the harness started."""
    elapsed = time.monotonic() - _started
    print(f"[{int(elapsed) // 60:02d}:{elapsed % 60:04.1f}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Deadline:
    """A hard wall-clock cap; every wait loop in the harness checks one."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def sub(self, seconds: float) -> Deadline:
        """A cap of ``seconds`` that never outlives this one."""
        return Deadline(min(seconds, self.remaining()))


class ScenarioTimeout(Exception):
    pass


@dataclass
class Context:
    """What a scenario gets: a scratch folder, a folder for process logs, its cap."""

    work_dir: Path
    log_dir: Path
    deadline: Deadline
    quick: bool

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def payload(seq: int) -> dict[str, Any]:
    """About 1 KiB of JSON once serialised."""
    return {"type": EVENT_TYPE, "seq": seq, "data": {"note": "x" * 960}}


def payload_bytes(seq: int) -> bytes:
    return orjson.dumps(payload(seq))


# ----- processes ----------------------------------------------------------------------


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


# ----- the receiver -------------------------------------------------------------------


@dataclass
class ReceiverStats:
    count: int
    hung: int
    first: float
    last: float
    classes: dict[str, int] = field(default_factory=dict)
    marks: list[tuple[int, float]] = field(default_factory=list)

    def rate(self) -> float:
        span = self.last - self.first
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


@dataclass
class Receipt:
    cls: str
    msg_id: str
    at: float


class Receiver:
    """bench/receiver.py in its own process, with a client for its control paths."""

    def __init__(
        self,
        log_dir: Path,
        name: str = "receiver",
        record: bool = False,
        port: int | None = None,
        mark: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.name = name
        self.record_file = log_dir / f"{name}.records" if record else None
        argv: list[str | Path] = [sys.executable, "-m", "bench.receiver", str(self.port)]
        if self.record_file is not None:
            argv += ["--record", self.record_file]
        if mark:
            argv += ["--mark", str(mark)]
        self.proc = start_process(name, argv, log_dir)
        self._session: aiohttp.ClientSession | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        self._session = aiohttp.ClientSession()
        await wait_http(self._session, self.url("/__stats"), Deadline(15), self.proc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        await self.proc.stop(grace=5)

    async def stats(self) -> ReceiverStats:
        assert self._session is not None
        async with self._session.get(self.url("/__stats")) as resp:
            data = await resp.json(loads=orjson.loads)
        marks = [(int(c), float(t)) for c, t in data.pop("marks", [])]
        return ReceiverStats(**data, marks=marks)

    async def receipts(self) -> list[Receipt]:
        """Every answered request, with its webhook-id and time of arrival."""
        assert self._session is not None and self.record_file is not None
        timeout = aiohttp.ClientTimeout(total=60)
        async with self._session.get(self.url("/__dump"), timeout=timeout) as resp:
            await resp.read()
        out: list[Receipt] = []
        with self.record_file.open() as fh:
            for line in fh:
                cls, wid, at = line.split()
                out.append(Receipt(cls, wid, float(at)))
        return out

    async def wait_count(
        self,
        target: int,
        deadline: Deadline,
        cls: str | None = None,
        watch: Proc | Sequence[Proc] | None = None,
        every: float = 0.1,
        label: str = "delivered",
    ) -> ReceiverStats:
        """Poll until ``target`` requests (of class ``cls``) arrived, or the deadline."""
        last_print = time.monotonic()
        watched = [watch] if isinstance(watch, Proc) else list(watch or [])
        stats = await self.stats()
        while not deadline.expired:
            stats = await self.stats()
            got = stats.classes.get(cls, 0) if cls is not None else stats.count
            if got >= target:
                return stats
            for proc in watched:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            if time.monotonic() - last_print >= 10:
                log(f"  {label} {got:,} / {target:,}")
                last_print = time.monotonic()
            await asyncio.sleep(every)
        return stats


# ----- numbers ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float, missing: int = 0) -> float | None:
    """The q-th percentile (0-100, nearest rank); values that never arrived count as
    infinitely late, so the answer is None when they reach into the percentile."""
    total = len(values) + missing
    if total == 0:
        return None
    rank = max(1, int(-(-q * total // 100)))  # ceil(q/100 * total)
    if rank > len(values):
        return None
    return sorted(values)[rank - 1]


def slice_rates(first: float, marks: Sequence[tuple[int, float]]) -> list[float]:
    """Requests/s in each slice between marks (``[count, time]`` at every N-th arrival),
    the first slice starting at the first arrival (count 1)."""
    out: list[float] = []
    prev_count, prev_at = 1, first
    for count, at in marks:
        span = at - prev_at
        out.append((count - prev_count) / span if span > 0 else 0.0)
        prev_count, prev_at = count, at
    return out


def latency_summary(values_s: Sequence[float], missing: int = 0) -> dict[str, float | None]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": percentile(ms, 50, missing),
        "p99_ms": percentile(ms, 99, missing),
        "max_ms": (max(ms) if ms and not missing else None),
        "samples": len(ms),
        "missing": missing,
    }


def db_counts(data_dir: Path, until: float | None = None) -> dict[str, Any]:
    """Attempts and deliveries by status, read from the SQLite file after a run.

    ``until`` (Unix time) limits the attempts by error kind to those that finished by
    then, leaving out the ones a shutdown cut short."""
    until_ms = int((until if until is not None else time.time() + 86400) * 1000)
    conn = sqlite3.connect(f"file:{data_dir / 'hookline.db'}?mode=ro", uri=True)
    try:
        attempts = conn.execute("SELECT COUNT(*) FROM attempt").fetchone()[0]
        ok_attempts = conn.execute("SELECT COUNT(*) FROM attempt WHERE status=0").fetchone()[0]
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM delivery GROUP BY status"))
        kinds = dict(
            conn.execute(
                "SELECT COALESCE(error_kind, 'none'), COUNT(*) FROM attempt"
                " WHERE created_at + duration_ms <= ? GROUP BY 1",
                (until_ms,),
            ).fetchall()
        )
    finally:
        conn.close()
    return {
        "attempts": int(attempts),
        "successful_attempts": int(ok_attempts),
        "deliveries_success": int(by_status.get(0, 0)),
        "deliveries_pending": int(by_status.get(1, 0)),
        "deliveries_failed": int(by_status.get(2, 0)),
        "deliveries_sending": int(by_status.get(3, 0)),
        "attempts_by_error_kind": {str(k): int(v) for k, v in kinds.items()},
    }


# ----- other load on the machine ------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy CPU time of the whole machine and of this harness with its reaped children."""

    at: float
    machine_s: float
    own_s: float


def cpu_snapshot() -> CpuSnapshot:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system = (int(v) for v in fields[:3])
    own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    # fields 14-17 of /proc/PID/stat (utime, stime, cutime, cstime), counted after ")"
    own_ticks = sum(int(v) for v in own[11:15])
    return CpuSnapshot(time.monotonic(), (user + nice + system) / _TICK, own_ticks / _TICK)


def foreign_cores(before: CpuSnapshot, after: CpuSnapshot, live: Sequence[Proc] = ()) -> float:
    """Average cores used by processes the harness did not start, between two snapshots.

    Children still running are not in our reaped-children totals, so their CPU time
    so far is subtracted separately (``live``)."""
    wall = after.at - before.at
    if wall <= 0:
        return 0.0
    live_s = 0.0
    for proc in live:
        try:
            stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            live_s += sum(int(v) for v in stat[11:15]) / _TICK
        except (OSError, IndexError, ValueError):
            pass
    foreign = (after.machine_s - before.machine_s) - (after.own_s - before.own_s) - live_s
    return max(0.0, foreign / wall)


async def wait_for_quiet(max_wait: float, threshold: float = 0.2, window: float = 2.0) -> float:
    """Wait (at most ``max_wait`` s) until other processes use under ``threshold`` cores
    over a ``window``; returns the last measured figure. Nothing of ours runs meanwhile."""
    deadline = Deadline(max_wait)
    while True:
        before = cpu_snapshot()
        await asyncio.sleep(window)
        load = foreign_cores(before, cpu_snapshot())
        if load < threshold or deadline.expired:
            return load
        log(f"other processes use {load:.2f} cores; waiting for a quiet machine")
        await asyncio.sleep(min(3.0, deadline.remaining()))


# ----- where and what ------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def commit_info() -> dict[str, Any]:
    dirty = [
        line[3:]
        for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()
        if line[3:].startswith("src/")
    ]
    return {
        "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
        "subject": _git("log", "-1", "--format=%s"),
        "uncommitted_src_changes": dirty,
    }


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiohttp": aiohttp.__version__,
    }


def run_async(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
