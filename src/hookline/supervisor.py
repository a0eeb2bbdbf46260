"""``hookline serve`` on every core: one API process and N worker processes, supervised.

The parent does the one-time set-up (settings, data folder, schema check, admin token,
secret key), then starts each child as ``python -m hookline child --role ...``. It
restarts a child that exits (after a doubling backoff, so a crash loop is reported,
not spun), and on SIGTERM/SIGINT stops the API first (no new publish is accepted),
then the workers (they finish and record their in-flight sends), then exits.

Each child holds one end of a socket pair with the parent: it writes one byte once it
is serving, and it kills itself when it reads EOF (and on Linux the kernel kills it as
the parent dies, ``PR_SET_PDEATHSIG``). A parent killed with SIGKILL is a crash of the
whole serve: nothing lingers, the port is free for the next start, and the leases of
whatever was in flight run out as after any crash. Nothing here depends on SQLite: the
roles share only the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client.multiprocess import mark_process_dead

from hookline import logs, runtime
from hookline.config import Settings

log = logging.getLogger("hookline.supervisor")

Role = Literal["api", "worker"]

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_AFTER_S = 30.0  # a child up this long starts the next crash's backoff afresh
CRASH_LOOP = 3  # crashes in a row after which each restart is logged as an error
API_STOP_S = 15.0  # uvicorn's graceful shutdown is 10 s
READY = b"r"
PR_SET_PDEATHSIG = 1


SUPPORTED = os.name == "posix"  # process groups, passed descriptors, SIGCHLD


def default_workers() -> int:
    """One worker process per core, leaving one core to the API."""
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass
class Child:
    name: str
    role: Role
    maintenance: bool = False
    proc: subprocess.Popen[bytes] | None = None
    link: socket.socket | None = None  # the parent's end of the socket pair
    ready: bool = False  # serving since its last start
    started_at: float = 0.0
    streak: int = 0  # crashes in a row
    restart_at: float | None = None


@dataclass
class Supervisor:
    settings: Settings
    workers: int
    dev: bool = False
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.children = [Child("api", "api")] + [
            Child(f"worker-{n}", "worker", maintenance=n == 1) for n in range(1, self.workers + 1)
        ]
        self._selector = selectors.DefaultSelector()
        self._stopping = False
        self._metrics_dir: str | None = None

    # ----- the parent's loop ----------------------------------------------------------

    def run(self) -> int:
        """Start every child, supervise until SIGTERM/SIGINT, stop them in order. Returns
        the exit status: 0 after an orderly stop, 1 if a child failed its first start."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        previous_fd = signal.set_wakeup_fd(wake_w.fileno())
        handlers = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
        }
        if self.settings.metrics:
            # every child writes its samples here; the API's /metrics adds them all up
            self._metrics_dir = tempfile.mkdtemp(prefix="hookline-metrics-")
        try:
            failed = self._start_all()
            while failed is None and not self._stopping:
                self._wait(self._next_timeout())
                self._reap()
                self._restart_due()
            self._stop_all()
            if failed is not None:
                log.error("%s", failed)
                return 1
            return 0
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for child in self.children:
                self._close_link(child)
            self._selector.close()
            wake_r.close()
            wake_w.close()
            if self._metrics_dir is not None:
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT) and not self._stopping:
            self._stopping = True
            log.info(
                "received %s: stopping",
                signal.Signals(signum).name,
                extra={"event": "stop_requested"},
            )

    def _start_all(self) -> str | None:
        """Start every child together. One that exits before it is serving (an API that
        cannot bind its port, a key that opens no stored secret) fails the whole serve
        with its exit, rather than being restarted forever."""
        for child in self.children:
            self._spawn(child)
        while not self._stopping and not all(c.ready for c in self.children):
            self._wait(1.0)
            for child in self.children:
                if child.proc is not None and child.proc.poll() is not None:
                    return f"{child.name} exited at start ({describe(child.proc.returncode)})"
        return None

    def _wait(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            if key.data is None:  # a signal arrived; its handler has run
                with contextlib.suppress(BlockingIOError):
                    while key.fileobj.recv(512):  # type: ignore[union-attr]
                        pass
                continue
            child: Child = key.data
            try:
                data = child.link.recv(64) if child.link is not None else b""
            except OSError:
                data = b""
            if READY in data and not child.ready:
                child.ready = True
                pid = child.proc.pid if child.proc else 0
                log.info(
                    "%s is up (pid %d)",
                    child.name,
                    pid,
                    extra={"event": "role_started", "role": child.role, "pid": pid},
                )
            if not data:  # EOF: the child is gone; _reap reports it
                self._close_link(child)

    def _next_timeout(self) -> float:
        due = [c.restart_at for c in self.children if c.restart_at is not None]
        return max(0.0, min([time.monotonic() + 1.0, *due]) - time.monotonic())

    def _reap(self) -> None:
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            code, pid, child.proc = child.proc.returncode, child.proc.pid, None
            self._close_link(child)
            self._forget_samples(pid)
            up = time.monotonic() - child.started_at
            child.streak = 1 if up >= STABLE_AFTER_S else child.streak + 1
            backoff = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (child.streak - 1))
            child.restart_at = time.monotonic() + backoff
            report = log.error if child.streak >= CRASH_LOOP else log.warning
            report(
                "%s exited (%s) after %.1fs; restarting in %.1fs%s",
                child.name,
                describe(code),
                up,
                backoff,
                f" (crash loop: {child.streak} exits in a row)"
                if child.streak >= CRASH_LOOP
                else "",
                extra={"event": "role_exited", "role": child.role},
            )

    def _forget_samples(self, pid: int) -> None:
        """A dead child's live gauges go; its counters stay, so totals never drop."""
        if self._metrics_dir is not None:
            with contextlib.suppress(OSError):
                mark_process_dead(pid, self._metrics_dir)  # type: ignore[no-untyped-call]

    def _restart_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= now and not self._stopping:
                child.restart_at = None
                self._spawn(child)

    # ----- children -------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        mine, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "hookline", "--log-level", _level_name()]
        argv += ["--log-format", logs.current_format(), "child"]
        argv += ["--role", child.role, "--name", child.name, "--link-fd", str(theirs.fileno())]
        argv += ["--host", self.settings.host, "--port", str(self.settings.port)]
        if child.role == "worker" and not child.maintenance:
            argv.append("--no-maintenance")
        if self.dev:
            argv.append("--dev")
        try:
            # its own process group: a terminal's Ctrl-C reaches the parent alone, which
            # then stops the children in order
            child.proc = subprocess.Popen(
                argv, pass_fds=[theirs.fileno()], process_group=0, env=self._child_env()
            )
        finally:
            theirs.close()
        child.link, child.ready, child.started_at = mine, False, time.monotonic()
        self._selector.register(mine, selectors.EVENT_READ, child)

    def _child_env(self) -> dict[str, str] | None:
        if self._metrics_dir is None:
            return None  # the parent's own environment
        return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self._metrics_dir}

    def _close_link(self, child: Child) -> None:
        if child.link is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(child.link)
            child.link.close()
            child.link = None

    def _stop_all(self) -> None:
        """API first, so nothing new is accepted; then the workers, which finish their
        in-flight sends and record them. Past the deadline a child is killed."""
        drain_s = self.settings.request_timeout + 5 + 10
        for group, grace in ((self.children[:1], API_STOP_S), (self.children[1:], drain_s)):
            running = [c for c in group if c.proc is not None and c.proc.poll() is None]
            for child in running:
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for child in running:
                assert child.proc is not None
                try:
                    child.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.error("%s did not stop within %.0fs; killing it", child.name, grace)
                    child.proc.kill()
                    child.proc.wait()
                log.info(
                    "%s stopped (%s)",
                    child.name,
                    describe(child.proc.returncode),
                    extra={"event": "role_stopped", "role": child.role},
                )
                self._forget_samples(child.proc.pid)
            for child in group:
                child.proc, child.restart_at = None, None


def describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _level_name() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()


# ----- the child's side ---------------------------------------------------------------


def die_with_parent() -> None:
    """Linux: the kernel sends SIGKILL to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_child(settings: Settings, name: str, link_fd: int, dev: bool) -> None:
    """Run the roles ``settings`` switch on, tell the parent once serving, and die with
    the parent (if it died before ``die_with_parent``, the link is at EOF already)."""
    die_with_parent()
    logs.configure(_level_name(), logs.current_format(), process=name)
    link = socket.socket(fileno=link_fd)
    roles = runtime.build_roles(settings, dev=dev, migrated=True, name=name)
    try:
        asyncio.run(_child_main(roles, link))
    except runtime.RoleStopped:  # logged already; the parent starts this child again
        sys.exit(1)


async def _child_main(roles: runtime.Roles, link: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    link.setblocking(False)

    def parent_gone() -> None:
        try:
            data = link.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the parent is gone: die as it did, abruptly
            os.kill(os.getpid(), signal.SIGKILL)

    loop.add_reader(link.fileno(), parent_gone)
    started = asyncio.Event()
    running = asyncio.create_task(runtime.run(roles, started))
    await asyncio.wait(
        [running, asyncio.ensure_future(started.wait())], return_when="FIRST_COMPLETED"
    )
    while roles.api is not None and not roles.api.started and not running.done():
        await asyncio.sleep(0.01)  # the API is serving once its socket is bound
    if not running.done():
        with contextlib.suppress(OSError):
            link.send(READY)
    try:
        await running
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(link.fileno())
        link.close()
