"""Wake-ups between processes that share a store.

A publish in the API process must wake the workers in other processes within a
millisecond or so; polling at ``poll_interval`` stays the guarantee when a wake-up is
lost. ``WorkSignal`` is what the store sets after a commit that made work due: it wakes
the waiters in this process and, through a ``PeerChannel``, every other process. The
SQLite channel is a folder of Unix datagram sockets, one per process; PostgreSQL will
put ``LISTEN/NOTIFY`` behind the same ``PeerChannel`` interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

log = logging.getLogger("hookline.store")

MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
SUFFIX = ".sock"


class PeerChannel(Protocol):
    """Best-effort wake-ups to the other processes of the same store."""

    async def open(self, on_wake: Callable[[], None]) -> None:
        """Start receiving: ``on_wake`` runs on the event loop when a peer notifies."""
        ...

    def notify(self) -> None:
        """Tell every peer (not this process) that work may be due. Never blocks."""
        ...

    async def close(self) -> None: ...


class WorkSignal:
    """An ``asyncio.Event`` whose ``set()`` also reaches the other processes, coalesced:
    any number of ``set()`` calls in one turn of the event loop (the writes of one group
    commit finish together) make one notification to each peer."""

    def __init__(self, channel: PeerChannel | None = None) -> None:
        self._event = asyncio.Event()
        self._channel = channel
        self._notify_pending = False
        self._also: list[asyncio.Event] = []

    def wakes_too(self, event: asyncio.Event) -> None:
        """A peer's notification also sets ``event``: it cannot say which kind of work
        it was, and a busy waiter of this signal may not pass it on for a while."""
        self._also.append(event)

    def _peer_woke(self) -> None:
        self._event.set()
        for event in self._also:
            event.set()

    async def open(self) -> None:
        """Start receiving; a channel that cannot open (say, a read-only folder) leaves this
        process on polling alone, with a warning, rather than stopping it."""
        if self._channel is None:
            return
        try:
            await self._channel.open(self._peer_woke)
        except OSError as exc:
            log.warning("no wake-ups from other processes (polling instead): %s", exc)
            self._channel = None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    def set(self) -> None:
        """Wake the waiters here and in every peer process."""
        self._event.set()
        if self._channel is None or self._notify_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (a test's direct call): notify now
            self._channel.notify()
            return
        self._notify_pending = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._notify_pending = False
        if self._channel is not None:
            self._channel.notify()

    def is_set(self) -> bool:
        return self._event.is_set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self) -> None:
        await self._event.wait()


def socket_folder(data_dir: Path) -> Path:
    """Where the processes of one data folder find each other."""
    return data_dir / "wake"


class SocketFolderChannel:
    """Each process binds ``<folder>/<pid>-<random>.sock`` (0600, removed at close) and
    sends one byte to every other socket in the folder, without blocking. A socket whose
    process died refuses the send and is removed; a peer whose queue is full has unread
    wake-ups already and is skipped."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._dir_fd: int | None = None
        self._sock: socket.socket | None = None
        self._name = ""
        self._peers: list[str] = []
        self._listed_version = -1  # the folder's mtime when it was last listed
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self, on_wake: Callable[[], None]) -> None:
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._name = f"{os.getpid()}-{secrets.token_hex(6)}{SUFFIX}"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(self._address(self._name))
            os.chmod(self._address(self._name), 0o600)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._drain, on_wake)

    def _address(self, name: str) -> str:
        """The socket's path; a folder too deep for ``sun_path`` is reached through
        ``/proc/self/fd`` (Linux), which keeps the path short."""
        path = str(self._folder / name)
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH or not sys.platform.startswith("linux"):
            return path
        if self._dir_fd is None:
            self._dir_fd = os.open(self._folder, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._dir_fd}/{name}"

    def _drain(self, on_wake: Callable[[], None]) -> None:
        sock = self._sock
        if sock is None:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                sock.recv(64)
        on_wake()

    def _list_peers(self) -> list[str]:
        """The folder is listed again only when its mtime moved (a socket came or went):
        one ``stat`` per notification, and a process that starts is reached by the very
        next one, not after a cache expires."""
        try:
            version = os.stat(self._folder).st_mtime_ns
        except OSError:
            return self._peers
        if version != self._listed_version:
            try:
                names = os.listdir(self._folder)
            except OSError:
                names = []
            self._peers = [n for n in names if n.endswith(SUFFIX) and n != self._name]
            self._listed_version = version
        return self._peers

    def notify(self) -> None:
        sock = self._sock
        if sock is None:
            return
        gone: list[str] = []
        for name in self._list_peers():
            try:
                sock.sendto(b"!", self._address(name))
            except (BlockingIOError, InterruptedError):
                continue  # its queue is full of wake-ups it has not read yet
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:  # nobody bound it: a dead process's
                    with contextlib.suppress(OSError):
                        os.unlink(self._folder / name)
                    gone.append(name)
                elif exc.errno == errno.ENOENT:
                    gone.append(name)
                else:
                    log.debug("wake-up to %s failed: %s", name, exc)
        if gone:
            self._peers = [n for n in self._peers if n not in gone]

    async def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            with contextlib.suppress(OSError):
                os.unlink(self._folder / self._name)
            sock.close()
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
