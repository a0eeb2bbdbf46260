"""Baselines measured in the same run as hookline, against the same receiver.

- **Ceiling**: ``bench/ceiling.py``, aiohttp + uvloop, HMAC-signed, no persistence, in
  its own process, at the worker's concurrency.
- **Peer**: Celery with a Redis broker and 2 prefork workers, one ``requests.post`` per
  task (``bench/celery_peer.py``). Celery, redis-py and requests are installed into the
  venv from PyPI and ``redis-server`` from Debian when missing; if that fails the peer
  is reported as unavailable. redis-server runs on a free loopback port without
  persistence and is stopped at the end.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    BIN,
    WORKER_CONCURRENCY,
    Deadline,
    Proc,
    Receiver,
    free_port,
    log,
    start_process,
)


async def ceiling(log_dir: Path, count: int, deadline: Deadline) -> dict[str, Any]:
    log(
        f"ceiling: bare aiohttp+uvloop sender, {count:,} signed POSTs,"
        f" {WORKER_CONCURRENCY} in flight"
    )
    async with Receiver(log_dir, "ceiling-receiver") as receiver:
        sender = start_process(
            "ceiling-sender",
            [
                sys.executable,
                "-m",
                "bench.ceiling",
                "--url",
                receiver.url("/h/0"),
                "--count",
                str(count),
                "--concurrency",
                str(WORKER_CONCURRENCY),
                "--time-limit",
                str(max(5.0, deadline.remaining() - 10)),
            ],
            log_dir,
        )
        while sender.alive() and not deadline.expired:
            await asyncio.sleep(0.1)
        await sender.stop(grace=5)
        stats = await receiver.stats()
    lines = sender.log_path.read_text().strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    rate = stats.rate()
    log(f"ceiling: {stats.count:,} received, {rate:,.0f} requests/s")
    return {
        "available": True,
        "requests": stats.count,
        "failed": result.get("failed"),
        "rate": rate,
        "seconds": stats.last - stats.first,
    }


def combine_ceiling(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean rate of several ceiling runs, keeping each run's figure."""
    rates = [r["rate"] for r in runs if r.get("rate")]
    return {
        "available": bool(rates),
        "requests": sum(r.get("requests", 0) for r in runs),
        "rate": sum(rates) / len(rates) if rates else None,
        "runs": [r.get("rate") for r in runs],
    }


# ----- the Celery peer -----------------------------------------------------------------


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def ensure_peer_installed(deadline: Deadline) -> str | None:
    """Install what the peer needs; returns why it cannot run, or None when it can."""
    missing = [m for m in ("celery", "redis", "requests") if importlib.util.find_spec(m) is None]
    if missing:
        log(f"peer: installing {' '.join(missing)} into the venv from PyPI")
        done = _run(
            [str(BIN / "pip"), "install", "--quiet", "celery", "redis", "requests"],
            timeout=max(30.0, deadline.remaining()),
        )
        if done.returncode != 0:
            return f"pip install celery redis requests failed: {done.stderr.strip()[-300:]}"
        importlib.invalidate_caches()
    if shutil.which("redis-server") is None:
        log("peer: installing redis-server from apt")
        install = ["apt-get", "install", "-y", "-q", "redis-server"]
        done = _run(install, timeout=max(30.0, deadline.remaining()))
        if done.returncode != 0:
            _run(["apt-get", "update", "-q"], timeout=max(30.0, deadline.remaining()))
            done = _run(install, timeout=max(30.0, deadline.remaining()))
        if done.returncode != 0 or shutil.which("redis-server") is None:
            return f"apt-get install redis-server failed: {done.stderr.strip()[-300:]}"
    return None


async def _start_redis(log_dir: Path, deadline: Deadline) -> tuple[Proc, int]:
    port = free_port()
    redis_server = shutil.which("redis-server")
    assert redis_server is not None
    proc = start_process(
        "redis-server",
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ],
        log_dir,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    while not deadline.expired:
        if not proc.alive():
            raise RuntimeError(f"redis-server exited:\n{proc.log_tail()}")
        try:
            if client.ping():
                client.close()
                return proc, port
        except redis.RedisError:
            await asyncio.sleep(0.1)
    raise RuntimeError("redis-server did not answer in time")


async def peer(log_dir: Path, count: int, deadline: Deadline) -> dict[str, Any]:
    log(f"peer: Celery + Redis, 2 prefork workers, {count:,} tasks doing requests.post")
    try:
        why = await asyncio.to_thread(ensure_peer_installed, deadline)
    except (OSError, subprocess.SubprocessError) as exc:
        why = f"installing the peer failed: {exc}"
    if why is not None:
        log(f"peer: unavailable: {why}")
        return {"available": False, "reason": why}
    redis_proc: Proc | None = None
    try:
        redis_proc, redis_port = await _start_redis(log_dir, deadline.sub(30))
        env = {"BENCH_CELERY_BROKER": f"redis://127.0.0.1:{redis_port}/0"}
        async with Receiver(log_dir, "peer-receiver") as receiver:
            queued_at = time.monotonic()
            producer = start_process(
                "peer-enqueue",
                [
                    sys.executable,
                    "-m",
                    "bench.celery_peer",
                    "enqueue",
                    "--url",
                    receiver.url("/h/0"),
                    "--count",
                    str(count),
                ],
                log_dir,
                env,
            )
            while producer.alive() and not deadline.expired:
                await asyncio.sleep(0.1)
            if producer.popen.returncode != 0:
                raise RuntimeError(f"queueing Celery tasks failed:\n{producer.log_tail()}")
            log(f"peer: {count:,} tasks queued in {time.monotonic() - queued_at:.1f} s")
            workers = start_process(
                "peer-celery-worker",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "bench.celery_peer",
                    "worker",
                    "--concurrency",
                    "2",
                    "--pool",
                    "prefork",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                log_dir,
                env,
                own_group=True,
            )
            stats = await receiver.wait_count(count, deadline, watch=workers, label="peer")
            peak = workers.peak_rss_mb()
            await workers.stop(grace=10)
    except (RuntimeError, OSError) as exc:
        log(f"peer: unavailable: {exc}")
        return {"available": False, "reason": str(exc)[:500]}
    finally:
        if redis_proc is not None:
            await redis_proc.stop(grace=5)
    rate = stats.rate()
    log(f"peer: {stats.count:,} received, {rate:,.0f} deliveries/s")
    return {
        "available": True,
        "requests": stats.count,
        "rate": rate,
        "seconds": stats.last - stats.first,
        "complete": stats.count >= count,
        "main_process_peak_rss_mb": peak,
    }
