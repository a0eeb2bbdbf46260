"""SIGKILL in the middle of a background fan-out: after a restart every endpoint gets every
message, and no (message, endpoint) pair has two scheduled deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hookline

pytestmark = pytest.mark.e2e

ENDPOINTS = 100
MESSAGES = 10
SRC_DIR = Path(hookline.__file__).resolve().parents[1]
WORKER_ENV = {
    "HOOKLINE_FANOUT_BATCH_SIZE": "5",  # 20 batches per message: a wide window for the kill
    "HOOKLINE_POLL_INTERVAL": "0.2",
    "HOOKLINE_RETRY_SCHEDULE": "0.2,0.2,0.4",
    "HOOKLINE_LEASE_SECONDS": "8",
    "HOOKLINE_REQUEST_TIMEOUT": "5",
}


@contextlib.contextmanager
def worker(data_dir: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``hookline worker`` process on the server's data folder; killed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
    env |= WORKER_ENV | {"HOOKLINE_DATA_DIR": str(data_dir)}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hookline", "worker", "--dev"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()


def query(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(data_dir / "hookline.db", timeout=10)) as conn:
        return conn.execute(sql).fetchall()


def scheduled_pairs(data_dir: Path) -> dict[tuple[str, str], int]:
    found = query(
        data_dir,
        "SELECT msg_id, endpoint_id, COUNT(*) FROM delivery WHERE trigger = 0"
        " GROUP BY msg_id, endpoint_id",
    )
    return {(str(m), str(e)): int(n) for m, e, n in found}  # type: ignore[call-overload]


async def test_sigkill_mid_fanout_loses_no_delivery_and_repeats_none(
    start_server, receiver, tmp_path: Path
) -> None:
    # The API alone: the publishes leave their fan-outs pending for the worker below.
    server = await asyncio.to_thread(start_server, None, {"HOOKLINE_RUN_WORKER": "false"})
    data_dir = server.data_dir
    async with server.api() as api:
        app_id = await api.create_app("fan-out crash")
        endpoints = {}
        for n in range(ENDPOINTS):
            ep = await api.create_endpoint(app_id, receiver.url(f"/ep{n}"))
            endpoints[ep["id"]] = f"/ep{n}"
        messages = [await api.publish(app_id, "order.created", {"n": n}) for n in range(MESSAGES)]
    assert len(query(data_dir, "SELECT msg_id FROM fanout")) == MESSAGES
    assert scheduled_pairs(data_dir) == {}

    log = tmp_path / "worker.log"
    with worker(data_dir, log) as first:
        deadline = time.monotonic() + 30
        while not query(data_dir, "SELECT 1 FROM fanout WHERE cursor IS NOT NULL LIMIT 1"):
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the fan-out never got under way"
            await asyncio.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait()
    at_kill = scheduled_pairs(data_dir)
    pending_at_kill = query(data_dir, "SELECT msg_id, cursor FROM fanout")

    every_pair = {(m, ep) for m in messages for ep in endpoints}

    def received() -> set[tuple[str | None, str]]:
        by_path = {path: ep for ep, path in endpoints.items()}
        return {(r.webhook_id, by_path[r.path]) for r in receiver.requests()}

    def finished_or_repeated() -> bool:
        pairs = scheduled_pairs(data_dir)
        return any(n > 1 for n in pairs.values()) or received() >= every_pair

    with worker(data_dir, log):
        with contextlib.suppress(TimeoutError):  # the assertions say what is missing
            await receiver.wait_until(finished_or_repeated, timeout=60)
        pairs = scheduled_pairs(data_dir)
    assert {p: n for p, n in pairs.items() if n > 1} == {}, "a delivery was created twice"
    assert set(pairs) == every_pair
    assert every_pair - received() == set()
    assert query(data_dir, "SELECT msg_id FROM fanout") == []
    # the kill came in the middle of a fan-out: some deliveries made, some still to make
    assert 0 < len(at_kill) < len(every_pair), len(at_kill)
    assert any(cursor is not None for _, cursor in pending_at_kill), pending_at_kill
