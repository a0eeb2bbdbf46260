"""The in-process delivery engine that these tests drive: store, worker, receiver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hookline import ids
from hookline.addresses import AddressPolicy
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.delivery.actions import ActionRunner
from hookline.delivery.fanout import Fanout, FanoutConfig
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.models import Application, Endpoint, Message
from hookline.retry import RetryPolicy
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.store.base import Store
from hookline.testing import Receiver

LOOPBACK_OK = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Engine:
    """A store, a worker running in the background, and a receiver to aim it at."""

    store: Store
    receiver: Receiver
    app: Application
    stop_worker: Callable[[], Awaitable[None]]

    async def endpoint(self, path: str, **kw: object) -> Endpoint:
        t = now_ms()
        ep = Endpoint(
            id=ids.new_id("ep"),
            app_id=self.app.id,
            url=self.receiver.url(path),
            secret=generate_secret(),
            created_at=t,
            updated_at=t,
        )
        for key, value in kw.items():
            setattr(ep, key, value)
        return await self.store.create_endpoint(ep)

    async def publish(
        self, payload: bytes = b'{"hello":"world"}', event_type: str = "invoice.paid"
    ) -> Message:
        t = now_ms()
        msg = Message(
            id=ids.new_id("msg"),
            app_id=self.app.id,
            event_type=event_type,
            payload=payload,
            created_at=t,
        )
        return (await self.store.publish(msg, t)).message

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            await asyncio.sleep(0.02)


EngineFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[EngineFactory]:
    """``await engine(schedule=(0.1,), timeout=15, policy=...)`` starts a worker."""
    stack: list[Callable[[], Awaitable[None]]] = []

    async def start(
        schedule: tuple[float, ...] = (0.1, 0.1, 0.2),
        timeout: float = 5.0,
        policy: AddressPolicy = LOOPBACK_OK,
        max_body: int = 20 * 1024,
        health: HealthPolicy | None = None,
        max_in_flight: int = 8,
        concurrency: int = 128,
        slow_after: float = 1.0,
        max_connections: int = 1024,
        actions: ActionRunner | None = None,
    ) -> Engine:
        store = open_store(Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL"))
        await store.open()
        receiver = Receiver()
        await receiver.start()
        sender = Sender(
            SenderConfig(
                request_timeout=timeout,
                connect_timeout=timeout,
                max_response_body=max_body,
                policy=policy,
            )
        )
        await sender.open()
        worker = Worker(
            store,
            sender,
            RetryPolicy(schedule, jitter=0.0),
            WorkerConfig(
                poll_interval=0.05,
                lease_seconds=timeout + 5,
                drain_timeout=timeout + 1,
                concurrency=concurrency,
                max_in_flight_per_endpoint=max_in_flight,
                health=health or HealthPolicy(),
                slow_after=slow_after,
                max_connections=max_connections,
            ),
            actions,
        )
        task = asyncio.create_task(worker.run())
        # as in production, the fan-out of applications with many endpoints runs beside it
        fanout = Fanout(store, FanoutConfig(poll_interval=0.05))
        fanning = asyncio.create_task(fanout.run())

        async def stop_worker() -> None:
            worker.stop()
            fanout.stop()
            await task
            await fanning

        async def stop() -> None:
            await stop_worker()
            await sender.close()
            await receiver.stop()
            await store.close()

        stack.append(stop)
        t = now_ms()
        app = await store.create_application(
            Application(id=ids.new_id("app"), name="t", created_at=t, updated_at=t)
        )
        return Engine(store, receiver, app, stop_worker)

    yield start
    for stop in reversed(stack):
        await stop()
