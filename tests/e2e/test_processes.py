"""``hookline serve`` as a supervised parent with an API process and worker processes:
children start, crashed children come back, SIGTERM drains in order, the parent's death
takes the children along, and a publish wakes a worker in another process at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import hookline

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
]

SRC_DIR = Path(hookline.__file__).resolve().parents[1]
RESTART_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode()
    return found


def role_pids(server: Any, role: str) -> set[int]:
    return {pid for pid, cmd in children(server.proc.pid).items() if f"--role {role}" in cmd}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout}s")
        await asyncio.sleep(0.1)


async def deliver_one(api: Any, receiver: Any, app_id: str, path: str, n: int) -> None:
    before = len(receiver.requests(path))
    await api.publish(app_id, "ping", {"n": n})
    await receiver.wait_for(before + 1, path, timeout=RESTART_TIMEOUT)


async def test_serve_runs_an_api_and_workers_as_children(start_server, receiver):
    server = await asyncio.to_thread(start_server, None, None, args=["--workers", "2"])
    await until(lambda: len(role_pids(server, "worker")) == 2, 10, "two worker processes")
    assert len(role_pids(server, "api")) == 1, children(server.proc.pid)
    assert len(children(server.proc.pid)) == 3, children(server.proc.pid)
    assert "processes:    1 API + 2 worker(s)" in server.stdout_path.read_text()
    async with server.api() as api:
        app_id = await api.create_app("procs")
        await api.create_endpoint(app_id, receiver.url("/p"))
        await deliver_one(api, receiver, app_id, "/p", 0)
    # each process of the data folder has its wake-up socket there, once its store is open
    sockets = server.data_dir / "wake"
    await until(lambda: len(list(sockets.glob("*.sock"))) == 3, RESTART_TIMEOUT, "3 sockets")


async def test_workers_0_runs_everything_in_one_process(start_server, receiver):
    server = await asyncio.to_thread(start_server, None, None, args=["--workers", "0"])
    async with server.api() as api:
        app_id = await api.create_app("single")
        await api.create_endpoint(app_id, receiver.url("/s"))
        await deliver_one(api, receiver, app_id, "/s", 0)
    assert not children(server.proc.pid)
    assert "processes:" not in server.stdout_path.read_text()


async def test_killed_children_are_restarted(start_server, receiver):
    server = await asyncio.to_thread(start_server, None, None, args=["--workers", "1"])
    async with server.api() as api:
        app_id = await api.create_app("restarts")
        await api.create_endpoint(app_id, receiver.url("/r"))
        await deliver_one(api, receiver, app_id, "/r", 0)

        (worker,) = role_pids(server, "worker")
        os.kill(worker, signal.SIGKILL)
        await until(lambda: role_pids(server, "worker") - {worker}, 10, "a new worker")
        await deliver_one(api, receiver, app_id, "/r", 1)  # published after the crash

        (api_pid,) = role_pids(server, "api")
        os.kill(api_pid, signal.SIGKILL)
        await until(lambda: role_pids(server, "api") - {api_pid}, 10, "a new API process")

        async def answers() -> bool:
            with contextlib.suppress(httpx.TransportError):
                return (await api.client.get("/health")).status_code == 204
            return False

        await api.eventually(answers, timeout=RESTART_TIMEOUT)
        await deliver_one(api, receiver, app_id, "/r", 2)
    log = server.stderr_path.read_text()
    assert "worker-1 exited (killed by SIGKILL)" in log
    assert "api exited (killed by SIGKILL)" in log
    assert server.proc.poll() is None


async def test_a_crash_loop_backs_off_and_is_reported(start_server):
    server = await asyncio.to_thread(start_server, None, None, args=["--workers", "1"])
    # once started: a child that dies during the first start fails the serve instead
    await until(lambda: "worker-1 is up" in server.stderr_path.read_text(), 30, "worker-1")
    killed: set[int] = set()
    for _ in range(3):  # each new worker is killed as soon as it appears
        await until(lambda: role_pids(server, "worker") - killed, 30, "a worker")
        (pid,) = role_pids(server, "worker") - killed
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    await until(lambda: "3 exits in a row" in server.stderr_path.read_text(), 10, "the report")
    log = server.stderr_path.read_text()
    delays = [
        line.split("restarting in ")[1][:4]
        for line in log.splitlines()
        if "worker-1 exited" in line
    ]
    assert delays == ["0.5s", "1.0s", "2.0s"], log  # doubling, not spinning
    assert "ERROR hookline.supervisor: worker-1 exited" in log  # a loop is an error
    await until(lambda: role_pids(server, "worker") - killed, 30, "a worker after the loop")


async def test_sigterm_stops_every_child_and_loses_no_accepted_message(start_server, receiver):
    receiver.script("/drain", delay=0.2)
    env = {"HOOKLINE_WORKER_CONCURRENCY": "4"}
    server = await asyncio.to_thread(start_server, None, env, args=["--workers", "2"])
    log_of = server.stderr_path.read_text
    await until(lambda: "worker-1 is up" in log_of() and "worker-2 is up" in log_of(), 30, "up")
    accepted: set[str] = set()
    async with server.api() as api:
        app_id = await api.create_app("drain")
        await api.create_endpoint(app_id, receiver.url("/drain"))
        spawned = set(children(server.proc.pid))

        async def publisher(k: int) -> None:
            for n in range(1000):
                try:
                    accepted.add(await api.publish(app_id, "burst", {"k": k, "n": n}))
                except (httpx.TransportError, AssertionError):
                    return  # the API is going away: this one was not accepted

        burst = [asyncio.create_task(publisher(k)) for k in range(4)]
        await receiver.wait_for(4, "/drain")
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(server.proc.wait, EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"hookline serve still running {EXIT_TIMEOUT}s after SIGTERM")
        await asyncio.gather(*burst)
    assert code == 0, server.output()
    assert not [pid for pid in spawned if alive(pid)], "children outlived the parent"
    log = server.stderr_path.read_text()
    assert log.index("api stopped") < log.index("worker-1 stopped"), "API stops first"
    for name in ("api", "worker-1", "worker-2"):
        assert f"{name} stopped (exit code 0)" in log, log  # drained, not killed
    assert len(accepted) > 4

    await asyncio.to_thread(start_server, server.data_dir, None, args=["--workers", "1"])

    def received() -> set[str | None]:
        return {r.webhook_id for r in receiver.requests("/drain")}

    with contextlib.suppress(TimeoutError):  # the assertion says what is missing
        await receiver.wait_until(lambda: received() >= accepted, timeout=60)
    assert not accepted - received(), f"{len(accepted - received())} accepted, never delivered"


async def test_killing_the_parent_leaves_no_child_running(start_server):
    server = await asyncio.to_thread(start_server, None, None, args=["--workers", "2"])
    await until(lambda: len(children(server.proc.pid)) == 3, 10, "three children")
    spawned = set(children(server.proc.pid))
    server.kill()
    await until(lambda: not [p for p in spawned if alive(p)], 10, "children gone")


async def test_a_publish_wakes_a_worker_in_another_process(start_server, receiver):
    """With a 5 s poll, only a wake-up from the API process delivers within a second."""
    poll = 5.0
    env = {"HOOKLINE_POLL_INTERVAL": str(poll)}
    server = await asyncio.to_thread(start_server, None, env, args=["--workers", "1"])
    async with server.api() as api:
        app_id = await api.create_app("wake")
        await api.create_endpoint(app_id, receiver.url("/w"))
        await deliver_one(api, receiver, app_id, "/w", 0)  # the worker is up
        latencies = []
        for n in range(1, 6):
            # right after a delivery the worker has gone back to sleep for a whole poll
            await asyncio.sleep(0.1)
            before = len(receiver.requests("/w"))
            sent = time.monotonic()
            await api.publish(app_id, "ping", {"n": n})
            (got, *_) = (await receiver.wait_for(before + 1, "/w", timeout=3 * poll))[before:]
            latencies.append(got.received_monotonic - sent)
    assert max(latencies) < poll / 5, f"publish-to-receipt {latencies}, poll {poll}s"


def test_serve_fails_when_the_api_cannot_bind(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env["PYTHONPATH"] = str(SRC_DIR)
        env["HOOKLINE_DATA_DIR"] = str(tmp_path / "data")
        argv = [sys.executable, "-m", "hookline", "serve", "--port", str(port), "--workers", "1"]
        done = subprocess.run(argv, env=env, capture_output=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1, done
    err = done.stderr.decode()
    assert "api exited at start" in err, err
    assert "address already in use" in err.lower(), err
