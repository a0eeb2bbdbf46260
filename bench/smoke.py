"""Smoke benchmark: deliveries per second for 10,000 queued messages.

Publishes 10,000 1 KiB messages to one endpoint through the store, then starts a
worker and times the drain to a local receiver process on 127.0.0.1. Every attempt
is persisted, as in production. Bounded: it gives up after 120 s.

    make bench-smoke            # or: python -m bench.smoke --messages 10000
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from hookline import ids
from hookline.config import Settings
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.ssrf import AddressPolicy
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.models import Application, Endpoint, Message
from hookline.retry import RetryPolicy
from hookline.runtime import open_store
from hookline.signing import generate_secret

TIME_LIMIT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(i: int) -> bytes:
    body = {"type": "invoice.paid", "seq": i, "data": {"note": "x" * 960}}
    return orjson.dumps(body)


async def main(messages: int, concurrency: int) -> None:
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert receiver.stdout is not None
    receiver.stdout.readline()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), sqlite_synchronous="NORMAL")
        store = open_store(settings)
        await store.open()
        now = ids.new_id("x")  # warm the id clock
        del now
        t = int(time.time() * 1000)
        app = await store.create_application(
            Application(id=ids.new_id("app"), name="bench", created_at=t, updated_at=t)
        )
        ep = await store.create_endpoint(
            Endpoint(
                id=ids.new_id("ep"),
                app_id=app.id,
                url=f"http://127.0.0.1:{port}/hook",
                secret=generate_secret(),
                created_at=t,
                updated_at=t,
            )
        )
        del ep
        started = time.perf_counter()
        for chunk in range(0, messages, 500):
            await asyncio.gather(
                *(
                    store.publish(
                        Message(
                            id=ids.new_id("msg"),
                            app_id=app.id,
                            event_type="invoice.paid",
                            payload=payload(i),
                            created_at=t,
                        ),
                        t,
                    )
                    for i in range(chunk, min(chunk + 500, messages))
                )
            )
        publish_s = time.perf_counter() - started

        sender = Sender(SenderConfig(policy=AddressPolicy.build(False, (), allow_loopback=True)))
        await sender.open()
        worker = Worker(
            store,
            sender,
            RetryPolicy(settings.retry_schedule),
            WorkerConfig(concurrency=concurrency, batch_size=256, poll_interval=0.05),
        )
        runner = asyncio.create_task(worker.run())
        started = time.perf_counter()
        while worker.delivered < messages and time.perf_counter() - started < TIME_LIMIT_S:
            await asyncio.sleep(0.02)
        drain_s = time.perf_counter() - started
        worker.stop()
        await runner
        await sender.close()
        await store.close()
    receiver.terminate()
    received = int((receiver.communicate(timeout=10)[0] or "0").strip() or 0)
    print(
        f"published {messages} messages in {publish_s:.2f} s "
        f"({messages / publish_s:,.0f} msg/s through the store)"
    )
    print(
        f"delivered {worker.delivered} in {drain_s:.2f} s: "
        f"{worker.delivered / drain_s:,.0f} deliveries/s "
        f"(concurrency {concurrency}, receiver counted {received})"
    )
    if worker.delivered < messages:
        sys.exit("benchmark did not finish within its time limit")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.messages, args.concurrency))
