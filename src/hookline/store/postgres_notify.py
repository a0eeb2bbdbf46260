"""Wake-ups between the processes of one PostgreSQL store, through LISTEN/NOTIFY.

Each process keeps two connections of its own (autocommit): one listens on ``CHANNEL``
(psycopg holds a connection while it waits for notifications), the other sends. A
payload names the sending process, so it ignores its own. Either connection is
reopened when it drops, the listener with a backoff; while it is down, polling is the
guarantee, as it always is.

Behind PgBouncer in transaction pooling, LISTEN does not work: point
``HOOKLINE_NOTIFY_URL`` at the server itself (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import psycopg

log = logging.getLogger("hookline.store")

CHANNEL = "hookline_work"
CLOSE_WAIT_S = 2.0
BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class PgNotifyChannel:
    """A ``PeerChannel`` over LISTEN/NOTIFY."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._me = secrets.token_hex(8)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._sender: psycopg.AsyncConnection[Any] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._on_wake: Callable[[], None] = lambda: None
        self._sending: asyncio.Task[None] | None = None
        self._again = False
        self._closing = False

    async def open(self, on_wake: Callable[[], None]) -> None:
        self._on_wake = on_wake
        try:
            await self._connect()  # listening before open returns, when it can
        except psycopg.Error as exc:
            log.warning("wake-ups paused (polling instead): %s", exc)
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _connect(self) -> None:
        conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await conn.execute(f"LISTEN {CHANNEL}")
        self._conn = conn

    async def _listen(self) -> None:
        failures = 0
        while True:
            conn = self._conn
            try:
                if conn is None:
                    await self._connect()
                    if failures:
                        log.warning("wake-ups resumed after %d tries", failures)
                    failures = 0
                    self._on_wake()  # wake-ups may have been missed while away
                    conn = self._conn
                assert conn is not None
                async for note in conn.notifies():
                    failures = 0
                    if note.payload != self._me:
                        self._on_wake()
            except asyncio.CancelledError:
                raise
            except psycopg.Error as exc:
                if self._conn is not None:
                    with contextlib.suppress(psycopg.Error):
                        await self._conn.close()
                    self._conn = None
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                # the first failure, then one line per longest backoff: no flood while down
                report = log.warning if failures == 1 or delay == BACKOFF_S[-1] else log.debug
                report("wake-ups paused (polling instead), retrying in %ss: %s", delay, exc)
                await asyncio.sleep(delay)

    def notify(self) -> None:
        """Never blocks: one NOTIFY at a time, and one more if asked meanwhile."""
        if self._closing:
            return
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        self._sending = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            # a connection the server dropped (a restart) shows only when used: the
            # wake-up goes again on a new one, or the first publish after it is not announced
            for fresh in (False, True):
                try:
                    if fresh or self._sender is None or self._sender.closed:
                        await self._close_sender()
                        self._sender = await psycopg.AsyncConnection.connect(
                            self._url, autocommit=True
                        )
                    await self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self._me))
                    break
                except psycopg.Error as exc:  # peers poll; the next wake-up reconnects
                    log.debug("wake-up not sent: %s", exc)
                    await self._close_sender()
                    if fresh:
                        return

    async def _close_sender(self) -> None:
        if self._sender is not None:
            with contextlib.suppress(psycopg.Error):
                await self._sender.close()
            self._sender = None

    async def close(self) -> None:
        # a send under way finishes (cancelled mid-connect, it would leave a connection
        # to the garbage collector); none starts after this
        self._closing = True
        if self._sending is not None:
            with contextlib.suppress(asyncio.CancelledError, psycopg.Error, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._sending), CLOSE_WAIT_S)
        for task in (self._listener, self._sending):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, psycopg.Error):
                    await task
        for conn in (self._conn, self._sender):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
        self._conn = self._sender = None
