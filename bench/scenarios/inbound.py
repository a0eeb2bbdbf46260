"""inbound: signed GitHub-style webhooks received, verified and stored; requests/s.

One client for every row (``bench/inbound_load.py``): 32 keep-alive aiohttp connections
in a closed loop, for the same warm-up and measured time, sending ~1 KiB GitHub ``push``
bodies with ``X-Hub-Signature-256`` and a distinct ``X-GitHub-Delivery`` each. Only a
200 counts.

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
accepted; a row that lost one is marked invalid. "Done after" is the time from the last
answer until the server finished what the requests started (hookline: routed them, and
with an endpoint delivered them; the peer: its last command exited); server CPU runs
from the first measured request until then.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import webhook_peer
from bench.api import Api
from bench.harness import API_TOKEN, HOOKLINE, Context, Deadline, free_port, log
from bench.inbound_load import CONNECTIONS, Setup, log_row, measure, presign, settled
from bench.machine import cpu_snapshot, foreign_cores
from bench.processes import Proc, start_process, wait_http
from bench.receiving import Receiver

CAP_FULL_S = 300.0
CAP_QUICK_S = 120.0
SETTLE_S = 60.0  # at most this long for routing (or the peer's commands) to finish


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
    log_row(name, row)
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
    inherited = sorted(k for k in os.environ if k.startswith("HOOKLINE_") and k not in env)
    if inherited:
        log(f"  warning: {name} inherits {', '.join(inherited)}: not the product defaults")
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
    log_row(name, row)
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
