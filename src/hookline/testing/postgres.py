"""A throwaway PostgreSQL server for tests and benchmarks, from the distribution's binaries.

``initdb`` and ``pg_ctl`` run in a temporary folder, as an unprivileged user when we are
root (PostgreSQL refuses to run as root), listening on 127.0.0.1 only, with its socket in
that folder. Nothing outside the folder is touched, and ``stop`` removes it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from hookline.testing.ports import free_port

SUPERUSER = "hookline"
UNPRIVILEGED = "nobody"
START_TIMEOUT_S = 60


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path | None:
    """``HOOKLINE_PG_BINDIR``, else ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else ``initdb`` on PATH."""
    candidates: list[str] = []
    if os.environ.get("HOOKLINE_PG_BINDIR"):
        candidates.append(os.environ["HOOKLINE_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(subprocess.check_output([pg_config, "--bindir"], text=True).strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name or 0), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


class PostgresServer:
    """One cluster in a temporary folder. ``durable=False`` (tests) turns fsync off: the
    data must survive a server restart, not a machine crash."""

    def __init__(self, *, durable: bool = False, port: int | None = None) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise PostgresMissing(
                "PostgreSQL server binaries not found (install Debian's postgresql package,"
                " or set HOOKLINE_PG_BINDIR)"
            )
        self.bindir = bindir
        self.durable = durable
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="hookline-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user = os.geteuid() == 0
        if self._as_user:
            import pwd

            pw = pwd.getpwnam(UNPRIVILEGED)
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            os.chown(self.root, self._uid, self._gid)
        os.chmod(self.root, 0o755 if self._as_user else 0o700)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self._as_user:
            kwargs = {"user": self._uid, "group": self._gid, "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "HOME": str(self.root)}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self.bindir / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            **kwargs,
        )

    def start(self) -> None:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8")
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=300",
            "-c shared_buffers=128MB",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.server_log()}")
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.url("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash); the data folder stays."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self, down_for_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for_s)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (copied from ``template`` if given); its URL."""
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running(*, durable: bool = False) -> Iterator[PostgresServer]:
    server = PostgresServer(durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.destroy()
