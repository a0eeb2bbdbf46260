"""Tunnel sessions: a connected ``hookline listen`` receives a tunnel endpoint's deliveries.

An endpoint whose URL is ``tunnel://`` is never claimed by the workers. While a listener
is attached (a WebSocket the API accepts and hands to :meth:`Tunnels.attach`), its session
claims the endpoint's due deliveries with the store's ordinary ``claim`` (its own lease
owner, the endpoint's limits as stored), sends each as one JSON frame with exactly the
headers the worker would sign, and records the listener's answer as the attempt through
``record_results``, with the retry policy's decision: retries, the breaker and
auto-disable behave as for an HTTP endpoint. The frame protocol is in ``docs/tunnel.md``.

A delivery still unanswered when the socket closes, or after the request timeout, is
recorded as a failed attempt and retried per schedule; leases are released at the end, so
a claim that finished as the socket closed is due again at once. Delivery stays
at-least-once: an answer lost with the socket means the message is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.delivery.sender import Outcome, Sender, SenderConfig
from hookline.delivery.worker import decide
from hookline.models import MASKED, DeliveryTask, ErrorKind, is_secret_header
from hookline.retry import RetryPolicy
from hookline.store.base import Store

log = logging.getLogger("hookline.tunnel")

# What a listener may report for a delivery its target did not answer.
_LISTENER_ERRORS = {
    ErrorKind.CONNECTION_REFUSED.value: ErrorKind.CONNECTION_REFUSED,
    ErrorKind.CONNECTION_ERROR.value: ErrorKind.CONNECTION_ERROR,
    ErrorKind.TIMEOUT.value: ErrorKind.TIMEOUT,
    ErrorKind.TLS.value: ErrorKind.TLS,
    ErrorKind.INVALID_RESPONSE.value: ErrorKind.INVALID_RESPONSE,
}


class Channel(Protocol):
    """One attached listener's socket, as text frames; ``receive`` raises once it closes."""

    async def send(self, frame: str) -> None: ...
    async def receive(self) -> str: ...


@dataclass(frozen=True, slots=True)
class TunnelConfig:
    lease_seconds: float = 60.0
    poll_interval: float = 1.0
    request_timeout: float = 15.0
    max_in_flight: int = 16  # per session, beside the endpoint's own cap in the store
    max_response_body: int = 20 * 1024
    health: HealthPolicy = field(default_factory=HealthPolicy)


class Tunnels:
    """What the API hands each accepted tunnel socket to (``ApiContext.tunnels``)."""

    def __init__(
        self, store: Store, policy: RetryPolicy, sender: SenderConfig, config: TunnelConfig
    ) -> None:
        self._store, self._policy, self._config = store, policy, config
        self._signer = Sender(sender)  # never opened: it only builds the signed headers
        self.sessions = 0

    async def attach(self, endpoint_id: str, channel: Channel) -> None:
        """Serve the endpoint's deliveries over ``channel`` until it closes."""
        session = _Session(self, endpoint_id, channel)
        self.sessions += 1
        try:
            await session.run()
        finally:
            self.sessions -= 1


class _Session:
    def __init__(self, hub: Tunnels, endpoint_id: str, channel: Channel) -> None:
        self.hub, self.endpoint_id, self.channel = hub, endpoint_id, channel
        self.owner = f"tunnel:{socket.gethostname()}:{os.getpid()}:{ids.new_id('tun')[-8:]}"
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.answers: set[asyncio.Task[None]] = set()
        self.slot_freed = asyncio.Event()

    async def run(self) -> None:
        store = self.hub._store
        await self.channel.send(_dump({"type": "hello", "endpointId": self.endpoint_id}))
        reader = asyncio.create_task(self._read_loop())
        claimer = asyncio.create_task(self._claim_loop())
        try:
            await asyncio.wait([reader, claimer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            claimer.cancel()
            reader.cancel()
            await asyncio.gather(claimer, reader, return_exceptions=True)
            for waiter in self.waiting.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("the listener disconnected"))
            await asyncio.gather(*self.answers, return_exceptions=True)
            # a claim that completed as the socket closed leased rows nobody will answer
            with contextlib.suppress(Exception):
                await store.release(self.owner, _now_ms())
        if claimer.done() and not claimer.cancelled() and claimer.exception() is not None:
            log.warning(
                "tunnel %s stopped: %r",
                self.endpoint_id,
                claimer.exception(),
                extra={"event": "tunnel_stopped", "endpoint_id": self.endpoint_id},
            )

    async def _read_loop(self) -> None:
        while True:
            try:
                text = await self.channel.receive()
            except Exception:  # the socket closed, however it did
                return
            try:
                frame = orjson.loads(text)
                waiter = self.waiting.get(str(frame["id"])) if frame["type"] == "result" else None
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.debug("tunnel %s: ignored a frame that is not a result", self.endpoint_id)
                continue
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)

    async def _claim_loop(self) -> None:
        config, store = self.hub._config, self.hub._store
        lease_ms = int(config.lease_seconds * 1000)
        while True:
            self.slot_freed.clear()
            free = config.max_in_flight - len(self.waiting)
            tasks: list[DeliveryTask] = []
            if free > 0:
                now = _now_ms()
                ready = await store.ready_tunnel(self.endpoint_id, now)
                if ready is not None:
                    tasks = await store.claim(
                        self.owner, [(ready, free)], now, lease_ms, config.max_in_flight
                    )
            for task in tasks:
                await self._forward(task)
            if tasks:
                continue
            waiters = [
                asyncio.ensure_future(store.wait_for_work(config.poll_interval)),
                asyncio.ensure_future(self.slot_freed.wait()),
            ]
            await asyncio.wait(
                waiters, timeout=config.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()

    async def _forward(self, task: DeliveryTask) -> None:
        started_wall = time.time()
        headers = self.hub._signer.signed_headers(task, int(started_wall))
        shown = {k: MASKED if is_secret_header(k) else v for k, v in headers.items()}
        frame = {
            "type": "delivery",
            "id": task.delivery_id,
            "msgId": task.msg_id,
            "eventType": task.event_type,
            "attempt": task.attempts + 1,
            "headers": headers,
            "body": task.payload.decode("utf-8", errors="replace"),
        }
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[task.delivery_id] = waiter
        answer = asyncio.create_task(self._answer(task, waiter, started_wall, shown))
        self.answers.add(answer)
        answer.add_done_callback(self.answers.discard)
        with contextlib.suppress(Exception):  # a closed socket: the reader ends the session
            await self.channel.send(_dump(frame))

    async def _answer(
        self,
        task: DeliveryTask,
        waiter: asyncio.Future[dict[str, Any]],
        started_wall: float,
        shown: dict[str, str],
    ) -> None:
        """Wait for the listener's answer to one delivery, and record it as the attempt."""
        config = self.hub._config
        started = time.perf_counter()
        started_ms = int(started_wall * 1000)
        try:
            frame = await asyncio.wait_for(waiter, config.request_timeout)
            outcome = _outcome(frame, config.max_response_body, started_ms, shown)
        except TimeoutError:
            outcome = Outcome(
                0,
                f"the listener did not answer in {config.request_timeout:g}s",
                int((time.perf_counter() - started) * 1000),
                ErrorKind.TIMEOUT,
                None,
                started_ms,
                shown,
            )
        except ConnectionError as exc:
            elapsed = int((time.perf_counter() - started) * 1000)
            body = f"{exc} before the local target answered; retried per schedule"
            outcome = Outcome(0, body, elapsed, ErrorKind.CONNECTION_ERROR, None, started_ms, shown)
        finally:
            self.waiting.pop(task.delivery_id, None)
        result = decide(task, outcome, self.hub._policy, _now_ms())
        try:
            await self.hub._store.record_results(self.owner, [result], _now_ms(), config.health)
        except Exception as exc:  # the lease runs out and another claim sends it again
            log.warning(
                "tunnel %s: recording a result failed: %r",
                self.endpoint_id,
                exc,
                extra={"event": "tunnel_record_failed", "endpoint_id": self.endpoint_id},
            )
        self.slot_freed.set()


def _outcome(frame: dict[str, Any], limit: int, started_ms: int, shown: dict[str, str]) -> Outcome:
    """A result frame as the worker's ``Outcome``: the target's status, headers, body and
    time, or (status 0) the reason the listener got no answer from it."""
    status = frame.get("status")
    status = status if isinstance(status, int) and 100 <= status <= 599 else 0
    raw_headers = frame.get("headers")
    headers = (
        {str(k).lower(): str(v) for k, v in raw_headers.items()}
        if isinstance(raw_headers, dict) and status
        else None
    )
    body = str(frame.get("body") or "")[:limit]
    duration = frame.get("durationMs")
    duration = duration if isinstance(duration, int) and duration >= 0 else 0
    if status:
        kind = None if 200 <= status < 300 else ErrorKind.HTTP_STATUS
        retry_after = headers.get("retry-after") if headers else None
        return Outcome(status, body, duration, kind, retry_after, started_ms, shown, headers)
    kind = _LISTENER_ERRORS.get(str(frame.get("error")), ErrorKind.CONNECTION_ERROR)
    detail = body or "the listener could not reach its local target"
    return Outcome(0, detail, duration, kind, None, started_ms, shown)


def _dump(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)
