"""The inbound scenario's load generator and per-row measurement.

``CONNECTIONS`` keep-alive aiohttp connections in a closed loop, each sending the next
pre-signed GitHub-style request as soon as the last one is answered: ~1 KiB ``push``
bodies with ``X-Hub-Signature-256`` and a distinct ``X-GitHub-Delivery`` each. Only a 200
counts. The same client measures every server, so their figures compare.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from bench.harness import Deadline, latency_summary, log
from bench.processes import Proc

CONNECTIONS = 32
POOL = 1024  # distinct pre-signed bodies, reused with fresh delivery ids


def github_body(seq: int) -> bytes:
    """About 1 KiB of JSON shaped like a GitHub ``push`` event."""
    sha = hashlib.sha1(str(seq).encode()).hexdigest()
    return orjson.dumps(
        {
            "ref": "refs/heads/main",
            "before": "0" * 40,
            "after": sha,
            "repository": {
                "id": 1296269,
                "full_name": "octo-org/hello-world",
                "private": False,
                "html_url": "https://github.com/octo-org/hello-world",
                "default_branch": "main",
            },
            "pusher": {"name": "octocat", "email": "octocat@example.com"},
            "sender": {"login": "octocat", "id": 1, "type": "User"},
            "head_commit": {
                "id": sha,
                "message": f"Update README (bench {seq})",
                "timestamp": "2026-11-29T20:00:00Z",
                "author": {"name": "Octo Cat", "email": "octocat@example.com"},
                "added": [],
                "removed": [],
                "modified": ["README.md", "docs/index.md"],
            },
            "note": "x" * 400,
        }
    )


@dataclass
class Signed:
    body: bytes
    signature: str


def presign(secret: str, count: int = POOL) -> list[Signed]:
    key = secret.encode()
    out = []
    for seq in range(count):
        body = github_body(seq)
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        out.append(Signed(body, "sha256=" + digest))
    return out


@dataclass
class Load:
    """What one timed run of the client saw."""

    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # delivery ids answered 200
    started: float = 0.0
    finished: float = 0.0

    def rate(self) -> float:
        span = self.finished - self.started
        return self.ok / span if span > 0 else 0.0


class Client:
    """``CONNECTIONS`` keep-alive connections sending pre-signed requests back to back."""

    def __init__(self, url: str, pool: list[Signed], ids: Iterator[int], prefix: str) -> None:
        self.url = url
        self.pool = pool
        self.ids = ids
        self.prefix = prefix  # with a 12-hex-digit sequence, a UUID-shaped delivery id
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        await self.session.close()

    async def run(self, seconds: float, deadline: Deadline) -> Load:
        out = Load()
        stop_at = time.monotonic() + min(seconds, deadline.remaining())
        pool, size, url, prefix = self.pool, len(self.pool), self.url, self.prefix
        post, clock = self.session.post, time.perf_counter

        async def connection() -> None:
            while time.monotonic() < stop_at:
                seq = next(self.ids)
                signed = pool[seq % size]
                delivery = f"{prefix}{seq:012x}"
                headers = {
                    "content-type": "application/json",
                    "user-agent": "GitHub-Hookshot/bench",
                    "x-github-event": "push",
                    "x-github-delivery": delivery,
                    "x-github-hook-id": "1",
                    "x-hub-signature-256": signed.signature,
                }
                started = clock()
                try:
                    async with post(url, data=signed.body, headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    key = type(exc).__name__
                    out.errors[key] = out.errors.get(key, 0) + 1
                    continue
                if status == 200:
                    out.ok += 1
                    out.latencies.append(clock() - started)
                    out.acked.append(delivery)
                else:
                    key = f"HTTP {status}"
                    out.errors[key] = out.errors.get(key, 0) + 1

        out.started = time.monotonic()
        await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
        out.finished = time.monotonic()
        return out


def cpu_with_children(proc: Proc) -> float:
    """User + system CPU of the process tree (a multi-process server's children too) and
    of the children it reaped (the peer's commands), in seconds."""
    return proc.cpu_seconds() or 0.0


@dataclass
class Setup:
    """What every row shares: the secret, the pre-signed pool and the id sequence."""

    secret: str
    pool: list[Signed]
    ids: Iterator[int]
    prefix: str
    warmup_s: float
    measure_s: float


async def measure(setup: Setup, url: str, proc: Proc, deadline: Deadline) -> dict[str, Any]:
    """Warm up, then one timed run; the row's client-side figures and CPU use."""
    client = Client(url, setup.pool, setup.ids, setup.prefix)
    try:
        warm = await client.run(setup.warmup_s, deadline)
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during the warm-up:\n{proc.log_tail()}")
        cpu_before, own_before = cpu_with_children(proc), time.process_time()
        load = await client.run(setup.measure_s, deadline)
        span = max(load.finished - load.started, 1e-9)
        client_cores = (time.process_time() - own_before) / span
    finally:
        await client.close()
    row: dict[str, Any] = {
        "connections": CONNECTIONS,
        "seconds": round(span, 2),
        "answered_200": load.ok,
        "errors": load.errors,
        "rate": load.rate(),
        "latency": latency_summary(load.latencies),
        "client_cpu_cores": round(client_cores, 2),
        "warmup_answered_200": warm.ok,
        "warmup_errors": warm.errors,
    }
    row["_acked"] = warm.acked + load.acked  # for the persistence check; not saved
    row["_last_answer"] = load.finished
    row["_started"] = load.started
    row["_cpu_before"] = cpu_before
    return row


def settled(row: dict[str, Any], proc: Proc) -> None:
    """Once the server has finished what the measured requests started (routing, or the
    peer's commands): how long that took after the last answer, and the server's CPU
    (with reaped children) from the first measured request until then, in cores."""
    now = time.monotonic()
    row["done_after_s"] = round(max(0.0, now - row.pop("_last_answer")), 2)
    cpu = cpu_with_children(proc) - row.pop("_cpu_before")
    row["server_cpu_cores"] = round(cpu / max(now - row.pop("_started"), 1e-9), 2)
    # steadier than the rate on a shared machine: it does not depend on the CPU it got
    row["server_cpu_us_per_request"] = round(cpu / max(row["answered_200"], 1) * 1e6)


def log_row(name: str, row: dict[str, Any]) -> None:
    lat = row["latency"]
    log(
        f"  {name}: {row['answered_200']:,} verified in {row['seconds']:.1f} s ="
        f" {row['rate']:,.0f}/s, p50 {lat['p50_ms'] or 0:.1f} ms, p99 {lat['p99_ms'] or 0:.1f}"
        f" ms; server {row['server_cpu_cores']:.2f} cores, client"
        f" {row['client_cpu_cores']:.2f}; errors {row['errors'] or 'none'}"
    )
