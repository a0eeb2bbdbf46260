"""inbound: signed GitHub-style webhooks received, verified and stored; requests/s.

One client for every row: ``CONNECTIONS`` keep-alive aiohttp connections in a closed
loop, each sending the next pre-signed request as soon as the last is answered, for
the same warm-up and measured time. Requests are ~1 KiB GitHub ``push`` bodies with
``X-Hub-Signature-256`` and a distinct ``X-GitHub-Delivery`` each. Only a 200 counts.

Rows, in this order, all on 127.0.0.1:

1. the peer, adnanh's ``webhook``, answering before it runs ``/bin/true`` (its
   default), then the same peer running ``/bin/true`` before it answers
   (``bench/webhook_peer.py``); it checks the same signature and stores nothing;
2. ``hookline serve`` with product defaults (no settings but its data folder and admin
   token: SQLite ``synchronous=FULL``, router and delivery worker on) and one ``github``
   source with no endpoints: every request is stored before its 200, then routed into
   a message of the source's application. This is the headline row: intake is what the
   target is about, and deliveries have their own scenarios;
3. the same with one endpoint on a loopback receiver (``--dev``, for loopback), so the
   process also delivers every message while it receives;
4. the peer's faster mode again (full runs only); the peer's figure is the mean of the
   runs of its faster mode, its honest best.

After each hookline row the harness waits until every request is routed, stops the
server, and checks in the database that every delivery id answered 200 is stored as
accepted; a row that lost one is marked invalid. For the peer, the time after the last
answer until its last command exited is reported the same way ("done after"; with an
endpoint, until every message was also delivered). Server CPU runs from the first
measured request until then.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import webhook_peer
from bench.api import Api
from bench.harness import (
    API_TOKEN,
    HOOKLINE,
    Context,
    Deadline,
    Proc,
    Receiver,
    cpu_snapshot,
    foreign_cores,
    free_port,
    latency_summary,
    log,
    start_process,
    wait_http,
)

CAP_FULL_S = 300.0
CAP_QUICK_S = 120.0
CONNECTIONS = 32
POOL = 1024  # distinct pre-signed bodies, reused with fresh delivery ids
SETTLE_S = 60.0  # at most this long for routing (or the peer's commands) to finish


# ----- the client ---------------------------------------------------------------------


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
    """User + system CPU of the process and of the children it reaped (the peer's
    commands), in seconds."""
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in stat[11:15]) / os.sysconf("SC_CLK_TCK")


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


def _log_row(name: str, row: dict[str, Any]) -> None:
    lat = row["latency"]
    log(
        f"  {name}: {row['answered_200']:,} verified in {row['seconds']:.1f} s ="
        f" {row['rate']:,.0f}/s, p50 {lat['p50_ms'] or 0:.1f} ms, p99 {lat['p99_ms'] or 0:.1f}"
        f" ms; server {row['server_cpu_cores']:.2f} cores, client"
        f" {row['client_cpu_cores']:.2f}; errors {row['errors'] or 'none'}"
    )


# ----- the peer -------------------------------------------------------------------------


async def peer_row(ctx: Context, setup: Setup, sync: bool, name: str) -> dict[str, Any]:
    port = free_port()
    cpu_before = cpu_snapshot()
    proc = webhook_peer.start(ctx.work_dir / name, ctx.log_dir, port, setup.secret, sync, name)
    try:
        async with aiohttp.ClientSession() as probe:
            await wait_http(probe, webhook_peer.url(port), Deadline(15), proc)
        row = await measure(setup, webhook_peer.url(port), proc, ctx.deadline)
        settle = ctx.deadline.sub(SETTLE_S)
        while webhook_peer.live_children(proc.pid) and not settle.expired:
            await asyncio.sleep(0.02)
        settled(row, proc)
        row["rss_mb"] = proc.peak_rss_mb()
    finally:
        await proc.stop(grace=5)
    row.pop("_acked")
    row.update(
        {
            "server": "webhook",
            "mode": "sync" if sync else "async",
            "persisted": None,
            "other_load_cores": round(foreign_cores(cpu_before, cpu_snapshot()), 3),
        }
    )
    _log_row(name, row)
    return row


# ----- hookline ---------------------------------------------------------------------------


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data_dir / 'hookline.db'}?mode=ro", uri=True, timeout=10)


def unrouted(data_dir: Path) -> int:
    conn = _db(data_dir)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM inbound_request WHERE routed_at IS NULL AND verdict = 'accepted'"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


def stored(data_dir: Path, acked: list[str]) -> dict[str, Any]:
    """Every delivery id answered 200 must be stored as an accepted request."""
    conn = _db(data_dir)
    try:
        verdicts = dict(conn.execute("SELECT verdict, COUNT(*) FROM inbound_request GROUP BY 1"))
        keys = {
            k
            for (k,) in conn.execute(
                "SELECT dedup_key FROM inbound_request WHERE verdict = 'accepted'"
            )
        }
        routed = conn.execute(
            "SELECT COUNT(*) FROM inbound_request WHERE routed_at IS NOT NULL"
        ).fetchone()[0]
        # the messages routing made: those of the sources' applications
        messages = conn.execute(
            "SELECT COUNT(*) FROM message WHERE app_id IN (SELECT app_id FROM source)"
        ).fetchone()[0]
    finally:
        conn.close()
    missing = sum(1 for k in acked if k not in keys)
    return {
        "answered_200": len(acked),
        "stored_by_verdict": {str(k): int(v) for k, v in verdicts.items()},
        "missing": missing,
        "routed": int(routed),
        "messages": int(messages),
    }


def start_hookline(data_dir: Path, port: int, log_dir: Path, name: str, dev: bool) -> Proc:
    """``hookline serve`` as a new user runs it: no setting but where its data lives and
    the admin token (so the harness can call the API); ``--dev`` only to allow a loopback
    endpoint."""
    argv: list[str | Path] = [HOOKLINE, "serve", "--host", "127.0.0.1", "--port", str(port)]
    if dev:
        argv.append("--dev")
    env = {"HOOKLINE_DATA_DIR": str(data_dir), "HOOKLINE_API_TOKEN": API_TOKEN}
    return start_process(name, argv, log_dir, env)


async def hookline_row(ctx: Context, setup: Setup, endpoint: bool, name: str) -> dict[str, Any]:
    data_dir = ctx.work_dir / name
    port = free_port()
    cpu_before = cpu_snapshot()
    receiver = Receiver(ctx.log_dir, f"{name}-receiver") if endpoint else None
    proc = start_hookline(data_dir, port, ctx.log_dir, name, dev=endpoint)
    try:
        if receiver is not None:
            await receiver.__aenter__()
        async with aiohttp.ClientSession() as session:
            await wait_http(session, f"http://127.0.0.1:{port}/api/v1/health", Deadline(30), proc)
            api = Api(session, port)
            source = await api.create_source("bench", "github", {"secret": setup.secret})
            if receiver is not None:
                await api.create_source_endpoint(str(source["id"]), receiver.url("/h/0"))
        url = str(source["ingestUrl"])
        if not url.startswith(f"http://127.0.0.1:{port}/"):
            raise RuntimeError(f"unexpected ingestUrl {url!r}: the benchmark stays on loopback")
        row = await measure(setup, url, proc, ctx.deadline)
        acked: list[str] = row.pop("_acked")
        last_answer_wall = time.time() - (time.monotonic() - row["_last_answer"])
        settle = ctx.deadline.sub(SETTLE_S)
        while not settle.expired and proc.alive() and unrouted(data_dir):
            await asyncio.sleep(0.05)
        row["routed_after_s"] = round(time.time() - last_answer_wall, 2)
        if receiver is not None:  # done once delivered, too
            stats = await receiver.wait_count(len(acked), settle, watch=proc, every=0.05)
            row["delivered"] = stats.count
        settled(row, proc)
        row["rss_mb"] = proc.peak_rss_mb()
    finally:
        row_shutdown = await proc.stop(grace=30)
        if receiver is not None:
            await receiver.__aexit__(None, None, None)
    row["shutdown_seconds"] = round(row_shutdown, 1)
    check = stored(data_dir, acked)
    row.update(
        {
            "server": "hookline",
            "endpoints": 1 if endpoint else 0,
            "db": check,
            "persisted": check["missing"] == 0 and bool(acked),
            "other_load_cores": round(foreign_cores(cpu_before, cpu_snapshot()), 3),
        }
    )
    _log_row(name, row)
    log(
        f"  {name}: stored {check['stored_by_verdict']}, {check['missing']:,} of"
        f" {len(acked):,} answered 200 missing; routed {check['routed']:,},"
        f" messages {check['messages']:,}; done {row['done_after_s']:.1f} s after the last answer"
    )
    return row


# ----- the scenario ----------------------------------------------------------------------


async def run(ctx: Context) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    run_prefix = str(uuid.uuid4())[:24]  # 8-4-4-4- of a UUID; 12 hex digits follow
    setup = Setup(
        secret=secret,
        pool=presign(secret),
        ids=itertools.count(),
        prefix=run_prefix,
        warmup_s=ctx.size(3, 1),
        measure_s=ctx.size(15, 4),
    )
    result: dict[str, Any] = {
        "connections": CONNECTIONS,
        "warmup_s": setup.warmup_s,
        "measure_s": setup.measure_s,
        "peer": {"available": False},
        "rows": [],
    }
    why_not = webhook_peer.ensure_installed(ctx.deadline.sub(180))
    if why_not:
        log(f"inbound: the peer is unavailable: {why_not}")
        result["peer"] = {"available": False, "reason": why_not}
    else:
        result["peer"] = {"available": True, "version": webhook_peer.version()}
    peer_on = bool(result["peer"]["available"])
    need = setup.warmup_s + setup.measure_s + 15

    async def row(kind: str, name: str, flag: bool) -> None:
        if ctx.deadline.remaining() < need:
            log(f"inbound: skipping {name}: the scenario's time cap is nearly spent")
            return
        log(f"inbound: {name}")
        try:
            if kind == "webhook":
                out = await peer_row(ctx, setup, flag, name)
            else:
                out = await hookline_row(ctx, setup, flag, name)
        except (RuntimeError, OSError, aiohttp.ClientError, sqlite3.Error) as exc:
            # One row failing keeps the others' figures; the report shows the error.
            log(f"inbound: {name} failed: {exc}")
            out = {"server": kind, "error": str(exc)[:500]}
            if kind == "webhook":
                out["mode"] = "sync" if flag else "async"
        out["name"] = name
        result["rows"].append(out)

    if peer_on:
        await row("webhook", "webhook-async-1", False)
        await row("webhook", "webhook-sync-1", True)
    await row("hookline", "hookline-0ep", False)
    await row("hookline", "hookline-1ep", True)
    if peer_on and not ctx.quick:  # the peer's faster mode again, after hookline's rows
        best = peer_figure(result["rows"]).get("mode", "async")
        await row("webhook", f"webhook-{best}-2", best == "sync")
    result["peer"].update(peer_figure(result["rows"]))
    return result


def peer_figure(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The peer at its best: the mode with the higher mean rate over its runs."""
    by_mode: dict[str, list[float]] = {}
    for row in rows:
        if row.get("server") == "webhook" and row.get("rate"):
            by_mode.setdefault(row["mode"], []).append(row["rate"])
    if not by_mode:
        return {}
    means = {mode: sum(r) / len(r) for mode, r in by_mode.items()}
    best = max(means, key=lambda m: means[m])
    return {"mode": best, "rate": means[best], "runs": by_mode[best]}
