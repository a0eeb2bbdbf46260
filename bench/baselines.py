"""Baselines measured in the same run as hookline, against the same receiver.

- **Ceiling**: ``bench/ceiling.py``, HMAC-signed, no persistence, in its own process,
  64 requests in flight; ``client`` picks aiohttp (the figure the targets use), a raw
  asyncio + httptools client or pyreqwest (the fastest bare sender Python has).
- **Peer**: Celery with a Redis broker, one signed POST per task through a keep-alive
  ``requests.Session`` per worker process (``bench/celery_peer.py``), acks late, Redis
  with AOF (``appendfsync everysec``). :func:`peer` tries several pools, concurrencies
  and prefetch multipliers on a short run each and measures the best again on a longer
  one: the peer is reported at its best configuration, with the others' rates. Celery,
  redis-py, requests and gevent are installed into the venv from PyPI and
  ``redis-server`` from Debian when missing; if that fails the peer is reported as
  unavailable (gevent alone missing drops only its configuration).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import BIN, CEILING_CONCURRENCY, Deadline, free_port, log
from bench.processes import Proc, start_process
from bench.receiving import Receiver


async def ceiling(
    log_dir: Path, count: int, deadline: Deadline, client: str = "aiohttp"
) -> dict[str, Any]:
    log(f"ceiling: bare {client} sender, {count:,} signed POSTs, {CEILING_CONCURRENCY} in flight")
    if client == "pyreqwest" and not await asyncio.to_thread(_ensure_module, "pyreqwest", deadline):
        return {"available": False, "client": client, "reason": "pip install pyreqwest failed"}
    async with Receiver(log_dir, f"ceiling-{client}-receiver") as receiver:
        sender = start_process(
            f"ceiling-{client}-sender",
            [
                sys.executable,
                "-m",
                "bench.ceiling",
                "--client",
                client,
                "--url",
                receiver.url("/h/0"),
                "--count",
                str(count),
                "--concurrency",
                str(CEILING_CONCURRENCY),
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
    log(f"ceiling ({client}): {stats.count:,} received, {rate:,.0f} requests/s")
    return {
        "available": stats.count > 0,
        "client": client,
        "requests": stats.count,
        "failed": result.get("failed"),
        "rate": rate,
        "seconds": stats.last - stats.first,
    }


def _ensure_module(module: str, deadline: Deadline) -> bool:
    """Install ``module`` from PyPI into the venv when it is missing."""
    if importlib.util.find_spec(module) is not None:
        return True
    log(f"installing {module} into the venv from PyPI")
    done = _run(
        [str(BIN / "pip"), "install", "--quiet", module],
        timeout=max(30.0, min(180.0, deadline.remaining())),
    )
    importlib.invalidate_caches()
    return done.returncode == 0 and importlib.util.find_spec(module) is not None


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
    """redis-server on a free loopback port, persisting like a broker that must not lose
    a task: append-only file, fsync every second (Redis's recommended setting)."""
    port = free_port()
    redis_server = shutil.which("redis-server")
    assert redis_server is not None
    data = log_dir / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        "redis-server",
        [
            redis_server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
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


@dataclass(frozen=True)
class CeleryConfig:
    pool: str
    concurrency: int
    prefetch: int = 4  # Celery's default multiplier

    @property
    def label(self) -> str:
        return f"{self.pool} -c {self.concurrency}, prefetch x{self.prefetch}"


async def _peer_run(
    log_dir: Path, redis_port: int, config: CeleryConfig, count: int, deadline: Deadline
) -> dict[str, Any]:
    """Queue ``count`` tasks, then start a Celery worker with ``config`` and time it."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port)
    try:
        client.flushall()
    finally:
        client.close()
    env = {"BENCH_CELERY_BROKER": f"redis://127.0.0.1:{redis_port}/0"}
    tag = f"{config.pool}-{config.concurrency}-{config.prefetch}"
    async with Receiver(log_dir, f"peer-{tag}-receiver") as receiver:
        queued_at = time.monotonic()
        producer = start_process(
            f"peer-{tag}-enqueue",
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
        queue_s = time.monotonic() - queued_at
        workers = start_process(
            f"peer-{tag}-worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_peer",
                "worker",
                "--concurrency",
                str(config.concurrency),
                "--pool",
                config.pool,
                "--prefetch-multiplier",
                str(config.prefetch),
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
        try:
            stats = await receiver.wait_count(count, deadline, watch=workers, label="peer")
            peak = workers.peak_rss_mb()
        finally:
            await workers.stop(grace=10)
    row = {
        "config": config.label,
        "pool": config.pool,
        "concurrency": config.concurrency,
        "prefetch": config.prefetch,
        "requests": stats.count,
        "complete": stats.count >= count,
        "rate": stats.rate(),
        "seconds": stats.last - stats.first,
        "queue_seconds": queue_s,
        "peak_rss_mb": peak,
    }
    log(f"peer: {config.label}: {stats.count:,} / {count:,} at {row['rate']:,.0f}/s")
    return row


async def peer(
    log_dir: Path, sweep_count: int, final_count: int, deadline: Deadline
) -> dict[str, Any]:
    """The peer at its best: a short run per configuration, then the best one again on
    ``final_count`` tasks (its figure)."""
    log(f"peer: Celery + Redis (AOF), sweep of {sweep_count:,} tasks per configuration")
    try:
        why = await asyncio.to_thread(ensure_peer_installed, deadline)
    except (OSError, subprocess.SubprocessError) as exc:
        why = f"installing the peer failed: {exc}"
    if why is not None:
        log(f"peer: unavailable: {why}")
        return {"available": False, "reason": why}
    has_gevent = await asyncio.to_thread(_ensure_module, "gevent", deadline)
    tried: list[dict[str, Any]] = []
    redis_proc: Proc | None = None

    async def attempt(config: CeleryConfig, count: int, cap: float) -> dict[str, Any] | None:
        if deadline.remaining() < 20:
            log(f"peer: skipping {config.label}: the time cap is nearly spent")
            return None
        assert redis_proc is not None
        try:
            return await _peer_run(log_dir, redis_port, config, count, deadline.sub(cap))
        except RuntimeError as exc:
            log(f"peer: {config.label} failed: {exc}")
            tried.append({"config": config.label, "error": str(exc)[:300]})
            return None

    try:
        redis_proc, redis_port = await _start_redis(log_dir, deadline.sub(30))
        for c in (2, 4, 8):
            run = await attempt(CeleryConfig("prefork", c), sweep_count, 60)
            tried += [run] if run else []
        prefork = [r for r in tried if r.get("rate") and r.get("complete")]
        best_c = max(prefork, key=lambda r: r["rate"])["concurrency"] if prefork else 4
        extra = [CeleryConfig("prefork", best_c, 1), CeleryConfig("prefork", best_c, 64)]
        extra.append(CeleryConfig("threads", 16))
        if has_gevent:
            extra.append(CeleryConfig("gevent", 64))
        for config in extra:
            run = await attempt(config, sweep_count, 60)
            tried += [run] if run else []
        done = [r for r in tried if r.get("rate") and r.get("complete")]
        if not done:
            raise RuntimeError("no Celery configuration delivered all its tasks")
        top = max(done, key=lambda r: r["rate"])
        best = CeleryConfig(top["pool"], top["concurrency"], top["prefetch"])
        final = await attempt(best, final_count, 120)
    except (RuntimeError, OSError) as exc:
        log(f"peer: unavailable: {exc}")
        return {"available": False, "reason": str(exc)[:500], "tried": tried}
    finally:
        if redis_proc is not None:
            await redis_proc.stop(grace=5)
    figure = final if final and final.get("complete") else top
    log(f"peer: best {figure['config']}: {figure['rate']:,.0f} deliveries/s")
    return {
        "available": True,
        "config": figure["config"],
        "requests": figure["requests"],
        "rate": figure["rate"],
        "seconds": figure["seconds"],
        "complete": figure["complete"],
        "peak_rss_mb": figure["peak_rss_mb"],
        "final_run": final is figure,
        "tried": tried,
        "gevent": has_gevent,
    }
