"""Three ``hookline worker`` processes on one database keep each endpoint's limits
between them: the in-flight cap, the ``throttleRate`` and FIFO order hold for the
endpoint, not per process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hookline

pytestmark = pytest.mark.e2e

SRC_DIR = Path(hookline.__file__).resolve().parents[1]
WORKERS = 3
CAP, CAPPED = 4, 48
RATE, THROTTLED = 10, 30
IN_ORDER = 15
WORKER_ENV = {
    "HOOKLINE_POLL_INTERVAL": "0.05",
    "HOOKLINE_RETRY_SCHEDULE": "0.2,0.2,0.4",
    "HOOKLINE_REQUEST_TIMEOUT": "5",
    "HOOKLINE_LEASE_SECONDS": "8",
}


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes, filled in by the test; stopped (SIGTERM, then SIGKILL) after."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spawn_worker(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
    env |= WORKER_ENV | {"HOOKLINE_DATA_DIR": str(data_dir)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hookline", "worker", "--dev"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_started(logs: list[Path], timeout: float = 60.0) -> None:
    """Until every worker has printed its banner (it opens the store right after); a
    loaded machine takes seconds to import three processes at once."""
    deadline = time.monotonic() + timeout
    while not all(p.exists() and b"SSRF guard" in p.read_bytes() for p in logs):
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.05)


def busiest_second(times: list[float]) -> int:
    """The most arrivals within any one second."""
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


async def test_three_workers_keep_each_endpoints_limits(
    start_server, receiver, start_workers, tmp_path
):
    server = await asyncio.to_thread(start_server, None, {"HOOKLINE_RUN_WORKER": "false"})
    receiver.script("/capped", delay=0.05)
    receiver.script("/throttled", delay=0.02)
    receiver.script("/fifo", delay=0.02)
    async with server.api() as api:
        app = await api.create_app("limits")
        for path, fields in (
            ("/capped", {"maxInFlight": CAP}),
            ("/throttled", {"throttleRate": RATE, "maxInFlight": 100}),
            ("/fifo", {"fifo": True}),
        ):
            await api.create_endpoint(app, receiver.url(path), eventTypes=[path[1:]], **fields)

        logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
        start_workers.extend(spawn_worker(server.data_dir, log) for log in logs)
        await asyncio.to_thread(wait_started, logs)

        limit = asyncio.Semaphore(8)

        async def publish(event_type: str, n: int) -> None:
            async with limit:
                await api.publish(app, event_type, {"n": n})

        await asyncio.gather(
            *(publish("capped", n) for n in range(CAPPED)),
            *(publish("throttled", n) for n in range(THROTTLED)),
        )
        for n in range(IN_ORDER):  # one after another: publish order is id order
            await api.publish(app, "fifo", {"n": n})

        def all_arrived() -> bool:
            return (
                len(receiver.requests("/capped")) >= CAPPED
                and len(receiver.requests("/throttled")) >= THROTTLED
                and len(receiver.requests("/fifo")) >= IN_ORDER
            )

        await receiver.wait_until(all_arrived, timeout=30)

    assert all(p.poll() is None for p in start_workers), "a worker exited"
    # the cap is the endpoint's, whichever process sends: reached, never passed
    assert receiver.max_concurrent("/capped") == CAP
    # one bucket for the endpoint: a second's burst, then RATE a second
    times = [r.received_monotonic for r in receiver.requests("/throttled")]
    expected_span = (THROTTLED - RATE) / RATE
    assert max(times) - min(times) >= 0.5 * expected_span
    assert busiest_second(times) <= 2.5 * RATE
    # FIFO: one at a time, in publish order
    assert receiver.max_concurrent("/fifo") == 1
    assert [r.json()["n"] for r in receiver.requests("/fifo")] == list(range(IN_ORDER))
