"""Wake-ups between stores on one data folder: a commit that made work due in one process
wakes the waiters of every other, at once, coalesced, and dead peers are cleaned up."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from test_store_contract import NOW, make_app, make_endpoint, message

from hookline.config import Settings
from hookline.runtime import open_store
from hookline.store.wakeup import SocketFolderChannel, WorkSignal, socket_folder

POLL = 5.0


async def test_a_publish_wakes_a_store_of_another_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    api, worker = open_store(settings), open_store(settings)
    await api.open()
    await worker.open()
    try:
        app = await make_app(api)
        await make_endpoint(api, app)
        await worker.wait_for_work(0)  # forget wake-ups from the set-up
        waiting = asyncio.create_task(worker.wait_for_work(POLL))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await api.publish(message(app), NOW)
        await waiting
        assert time.monotonic() - started < POLL / 10
    finally:
        await worker.close()
        await api.close()
    assert not list(socket_folder(tmp_path).iterdir()), "sockets are removed at close"


async def test_a_background_fan_out_wakes_the_fan_out_of_another_process(
    tmp_path: Path,
) -> None:
    """A publish to more endpoints than fan out inline leaves its deliveries to the
    fan-out role; in another process, the peer's wake-up reaches that role too, while
    the worker of that process is busy and not waiting (nothing passes it on)."""
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    api, worker = open_store(settings), open_store(settings)
    await api.open()
    await worker.open()
    try:
        app = await make_app(api)
        for _ in range(20):  # more than publish fans out inline
            await make_endpoint(api, app)
        await worker.wait_for_fanout(0)  # forget wake-ups from the set-up
        waiting = asyncio.create_task(worker.wait_for_fanout(POLL))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        outcome = await api.publish(message(app), NOW)
        await waiting
        assert outcome.background
        assert time.monotonic() - started < POLL / 10
    finally:
        await worker.close()
        await api.close()


def _peer(folder: Path, name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(folder / name))
    sock.setblocking(False)
    return sock


def _received(sock: socket.socket) -> int:
    count = 0
    try:
        while sock.recv(16):
            count += 1
    except BlockingIOError:
        return count


async def test_many_sets_in_one_turn_send_one_wake_up(tmp_path: Path) -> None:
    signal = WorkSignal(SocketFolderChannel(tmp_path))
    await signal.open()
    peer = _peer(tmp_path, "1-peer.sock")
    try:
        for _ in range(50):
            signal.set()
        await asyncio.sleep(0.05)
        assert _received(peer) == 1
        signal.set()
        await asyncio.sleep(0.05)
        assert _received(peer) == 1  # a later turn notifies again
        assert signal.is_set()  # and the local waiters are woken too
    finally:
        peer.close()
        await signal.close()


async def test_a_dead_process_socket_is_removed(tmp_path: Path) -> None:
    dead = _peer(tmp_path, "2-dead.sock")
    dead.close()  # bound, never unlinked: what a killed process leaves behind
    live = _peer(tmp_path, "3-live.sock")
    signal = WorkSignal(SocketFolderChannel(tmp_path))
    await signal.open()
    try:
        signal.set()
        await asyncio.sleep(0.05)
        assert not (tmp_path / "2-dead.sock").exists()
        assert _received(live) == 1  # the live peer is still reached
    finally:
        live.close()
        await signal.close()


async def test_a_folder_deeper_than_a_socket_path_still_works(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 30] * 4)
    sender, receiver = SocketFolderChannel(deep), SocketFolderChannel(deep)
    woken = asyncio.Event()
    await sender.open(lambda: None)
    await receiver.open(woken.set)
    try:
        sender.notify()
        await asyncio.wait_for(woken.wait(), POLL)
        assert len(list(deep.glob("*.sock"))) == 2
    finally:
        await sender.close()
        await receiver.close()


async def test_a_folder_that_cannot_be_made_leaves_polling(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    signal = WorkSignal(SocketFolderChannel(tmp_path / "file" / "wake"))
    await signal.open()  # a warning, not a process that refuses to start
    signal.set()
    assert signal.is_set()  # this process's waiters still wake
    await signal.close()
