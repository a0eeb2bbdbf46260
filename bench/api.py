"""Driving a running ``hookline serve`` over HTTP: set-up calls and paced publishing.

Publishing uses aiohttp (httpx collapses at high concurrency, DESIGN §7). The paced
publisher is open-loop: request i is sent at ``t0 + i / rate`` whether or not earlier
ones have been answered, so a slow API shows up as latency, not as a lower offered rate.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.harness import API_TOKEN, EVENT_TYPE, Deadline, latency_summary, payload
from bench.processes import start_process
from bench.receiving import Receipt

HEADERS = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}


class Api:
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}/api/v1"
        self.ingest = f"http://127.0.0.1:{port}/ingest/api/v1"

    async def call(
        self, method: str, path: str, body: dict[str, Any], base: str | None = None
    ) -> dict[str, Any]:
        async with self.session.request(
            method, (base or self.base) + path, data=orjson.dumps(body), headers=HEADERS
        ) as resp:
            data = await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {data[:300]!r}")
            result: dict[str, Any] = orjson.loads(data) if data else {}
            return result

    async def create_app(self, name: str) -> str:
        return str((await self.call("POST", "/app", {"name": name}))["id"])

    async def create_endpoint(self, app_id: str, url: str, max_in_flight: int | None) -> str:
        body: dict[str, Any] = {"url": url}
        if max_in_flight is not None:
            body["maxInFlight"] = max_in_flight  # ignored by an API without the field
        return str((await self.call("POST", f"/app/{app_id}/endpoint", body))["id"])

    async def create_source(
        self, name: str, provider: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """A source through the Svix Ingest API; the answer has its ``id`` and ``ingestUrl``."""
        body = {"name": name, "type": provider, "config": config}
        return await self.call("POST", "/source", body, base=self.ingest)

    async def create_source_endpoint(self, source_id: str, url: str) -> str:
        body = {"url": url}
        return str(
            (await self.call("POST", f"/source/{source_id}/endpoint", body, self.ingest))["id"]
        )


def message_body(seq: int) -> bytes:
    return orjson.dumps({"eventType": EVENT_TYPE, "payload": payload(seq)})


@dataclass
class Publication:
    msg_id: str | None
    sent_at: float  # wall clock, comparable with the receiver's timestamps
    answered_at: float
    status: int


@dataclass
class PublishLog:
    offered: int = 0
    skipped: int = 0  # not sent: too many requests already outstanding
    publications: list[Publication] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    @property
    def accepted(self) -> list[Publication]:
        return [p for p in self.publications if p.status == 202 and p.msg_id]

    def accepted_rate(self) -> float:
        """Accepted messages per second, from the first send to the last answer."""
        accepted = self.accepted
        if not accepted:
            return 0.0
        span = max(p.answered_at for p in accepted) - self.started
        return len(accepted) / span if span > 0 else 0.0

    def api_latency(self) -> dict[str, float | None]:
        return latency_summary([p.answered_at - p.sent_at for p in self.accepted])


async def _publish_one(session: aiohttp.ClientSession, url: str, seq: int, out: PublishLog) -> None:
    body = message_body(seq)
    sent = time.time()
    msg_id: str | None = None
    status = 0
    try:
        async with session.post(url, data=body, headers=HEADERS) as resp:
            status = resp.status
            data = await resp.read()
            if status == 202:
                msg_id = str(orjson.loads(data)["id"])
            else:
                key = f"HTTP {status}"
                out.errors[key] = out.errors.get(key, 0) + 1
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        key = type(exc).__name__
        out.errors[key] = out.errors.get(key, 0) + 1
    out.publications.append(Publication(msg_id, sent, time.time(), status))


def _publisher_session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def publish_paced(
    port: int,
    app_id: str,
    rate: float,
    duration: float,
    deadline: Deadline,
    max_outstanding: int = 1000,
    seq0: int = 0,
) -> PublishLog:
    """Open loop: ``rate`` messages per second for ``duration`` seconds."""
    url = f"http://127.0.0.1:{port}/api/v1/app/{app_id}/msg"
    total = int(rate * duration)
    out = PublishLog(offered=total)
    pending: set[asyncio.Task[None]] = set()
    async with _publisher_session(limit=256) as session:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        out.started = time.time()
        sent = 0
        while sent < total and not deadline.expired:
            due = min(total, int((loop.time() - t0) * rate) + 1)
            while sent < due:
                if len(pending) >= max_outstanding:
                    out.skipped += 1
                else:
                    task = asyncio.create_task(_publish_one(session, url, seq0 + sent, out))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                sent += 1
            next_at = t0 + sent / rate
            await asyncio.sleep(max(0.0, min(0.01, next_at - loop.time())))
        if pending:
            await asyncio.wait(pending, timeout=max(1.0, deadline.remaining()))
        for task in pending:
            task.cancel()
        out.finished = time.time()
    return out


async def publish_closed(
    port: int,
    app_id: str,
    concurrency: int,
    deadline: Deadline,
    duration: float | None = None,
    count: int | None = None,
    seq0: int = 0,
    gate: Callable[[PublishLog], bool] | None = None,
) -> PublishLog:
    """Closed loop: ``concurrency`` publishers back to back, for a time or a count;
    each waits before a publish until ``gate`` allows it."""
    url = f"http://127.0.0.1:{port}/api/v1/app/{app_id}/msg"
    out = PublishLog()
    next_seq = seq0
    limit = seq0 + count if count is not None else None
    stop_at = time.monotonic() + (duration if duration is not None else deadline.remaining())

    async with _publisher_session(limit=concurrency) as session:

        async def loop() -> None:
            nonlocal next_seq
            while not deadline.expired and time.monotonic() < stop_at:
                if limit is not None and next_seq >= limit:
                    return
                if gate is not None and not gate(out):
                    await asyncio.sleep(0.001)
                    continue
                seq = next_seq
                next_seq += 1
                out.offered += 1
                await _publish_one(session, url, seq, out)

        out.started = time.time()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        out.finished = time.time()
    return out


def join_latency(
    publications: Sequence[Publication], receipts: Sequence[Receipt], per_message: int = 1
) -> tuple[list[float], int]:
    """Publish-to-receive latency of every delivery of the given messages; returns the
    latencies and how many expected deliveries never arrived."""
    sent = {p.msg_id: p.sent_at for p in publications if p.msg_id}
    latencies = [r.at - sent[r.msg_id] for r in receipts if r.msg_id in sent]
    missing = max(0, len(sent) * per_message - len(latencies))
    return latencies, missing


@dataclass
class LoadResult:
    publish: PublishLog
    health_latencies_s: list[float]
    cpu_seconds: float | None  # the load generator's own CPU time


async def run_loadgen(
    log_dir: Path, name: str, port: int, app_id: str, deadline: Deadline, *args: str | float
) -> LoadResult:
    """``python -m bench.loadgen`` in its own process (``args``: its options); waits for
    it and reads what it wrote."""
    out_file = log_dir / f"{name}.json"
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--app", app_id]
    argv += ["--out", str(out_file), *(str(a) for a in args)]
    proc = start_process(name, argv, log_dir)
    cpu: float | None = None
    while proc.alive() and not deadline.expired:
        cpu = proc.cpu_seconds() or cpu
        await asyncio.sleep(0.05)
    await proc.stop(grace=10)
    if not out_file.exists():
        raise RuntimeError(f"the load generator wrote nothing:\n{proc.log_tail()}")
    data = orjson.loads(out_file.read_bytes())
    publish = PublishLog(
        offered=data["offered"],
        skipped=data["skipped"],
        errors=data["errors"],
        started=data["started"],
        finished=data["finished"],
        publications=[Publication(m, s, a, st) for m, s, a, st in data["publications"]],
    )
    return LoadResult(publish, data["health_latencies_s"], cpu)
