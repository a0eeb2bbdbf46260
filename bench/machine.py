"""What else runs on this machine (other load), and where and what a run measured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import REPO, Deadline, log
from bench.processes import Proc

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
