"""Metrics across processes: ``hookline serve --workers 2`` aggregates every child's
samples at the API's ``/metrics``; a standalone ``hookline worker`` serves its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

import hookline
from hookline.testing import Receiver
from hookline.testing.ports import free_port

if TYPE_CHECKING:  # types only: several conftest modules share that name in a whole run
    from conftest import ServerHandle

SRC_DIR = Path(hookline.__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e

ATTEMPTS = "hookline_delivery_attempts_total"
ENDPOINTS, MESSAGES = 4, 15


def _total(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def _attempts_in(path: Path) -> float:
    """The attempts one process wrote into its own file of the shared directory."""
    total = 0.0
    for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
        if json.loads(key)[1] == ATTEMPTS:
            total += value
    return total


async def _until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_the_api_adds_up_the_attempts_of_every_worker_process(
    start_server: Callable[..., ServerHandle], receiver: Receiver, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"  # where the supervisor makes its metrics directory
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "HOOKLINE_ENDPOINT_MAX_IN_FLIGHT": "2"}
    server = await asyncio.to_thread(start_server, env_overrides=env, args=["--workers", "2"])
    async with server.api() as api:
        app_id = await api.create_app("metrics")
        for n in range(ENDPOINTS):
            await api.create_endpoint(app_id, receiver.url(f"/e{n}"))
        for n in range(MESSAGES):
            await api.publish(app_id, "order.paid", {"n": n})
    deliveries = ENDPOINTS * MESSAGES
    await _until(lambda: len(receiver.requests()) >= deliveries)
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.auth) as client:
        text = ""
        deadline = time.monotonic() + 30
        while _total(text, ATTEMPTS) < deliveries and time.monotonic() < deadline:
            text = (await client.get("/metrics")).text
            await asyncio.sleep(0.1)
    assert _total(text, ATTEMPTS) == deliveries == len(receiver.requests())
    assert _total(text, "hookline_messages_published_total") == MESSAGES
    [folder] = scratch.glob("hookline-metrics-*")
    per_process = {p.name: _attempts_in(p) for p in folder.glob("counter_*.db")}
    assert sum(per_process.values()) == deliveries, per_process
    assert len(per_process) == 3, per_process  # the API and both workers write samples
    assert server.stop() == 0
    assert not list(scratch.glob("hookline-metrics-*"))  # removed with the serve


async def test_a_standalone_worker_serves_its_own_metrics(
    start_server: Callable[..., ServerHandle], receiver: Receiver, tmp_path: Path
) -> None:
    server = await asyncio.to_thread(start_server, args=["--no-worker"])
    async with server.api() as api:
        app_id = await api.create_app("metrics")
        await api.create_endpoint(app_id, receiver.url("/w"))
        for n in range(3):
            await api.publish(app_id, "order.paid", {"n": n})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env |= {
        "PYTHONPATH": str(SRC_DIR),
        "HOOKLINE_DATA_DIR": str(server.data_dir),
        "HOOKLINE_POLL_INTERVAL": "0.2",
        "HOOKLINE_METRICS_PORT": str(port),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = [sys.executable, "-m", "hookline", "worker", "--dev"]
    worker = subprocess.Popen(argv, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    try:
        await _until(lambda: len(receiver.requests("/w")) >= 3)
        text = ""
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while _total(text, ATTEMPTS) < 3 and time.monotonic() < deadline:
                try:
                    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        assert _total(text, ATTEMPTS) == 3
        assert "hookline_delivery_attempt_duration_seconds_bucket" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
