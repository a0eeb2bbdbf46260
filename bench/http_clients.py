"""HTTP clients for the send path, on hookline's workload: req/s and CPU per request.

Every request is a signed delivery of about 1 KiB (the signature headers computed per
request, as the worker does), POSTed over keep-alive connections with 64 in flight to one
``bench.receiver`` process on 127.0.0.1, its answer read. Rounds alternate between the
clients so that a change in the machine's load hits each of them alike; CPU is this
process's user plus system time (``resource.getrusage``, every thread counted, so a client
that works in its own threads pays for them too).

- ``aiohttp``: one ``ClientSession`` as the sender used before (no redirects, no
  decompression, no cookies, total timeout, capped read);
- ``pyreqwest``: reqwest (Rust) through PyPI ``pyreqwest``, skipped if not installed;
- ``hookline``: ``hookline.delivery.sender.Sender``, the client the worker uses (an asyncio
  protocol with httptools parsing), SSRF guard and all.

    python -m bench.http_clients --requests 20000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import payload_bytes, run_async
from bench.processes import stop_all
from bench.receiving import Receiver
from hookline.addresses import AddressPolicy
from hookline.delivery.sender import Sender, SenderConfig
from hookline.models import DeliveryTask, TriggerType
from hookline.signing import generate_secret

IN_FLIGHT = 64
CAP = 20 * 1024
LOOPBACK = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)
Send = Callable[[DeliveryTask], Awaitable[int]]


def tasks(url: str, n: int) -> list[DeliveryTask]:
    secret = generate_secret()
    return [
        DeliveryTask(
            delivery_id=f"dlv_{i}",
            attempts=0,
            trigger=TriggerType.SCHEDULED,
            msg_id=f"msg_{i:027d}",
            app_id="app_1",
            event_type="bench.event",
            payload=payload_bytes(i),
            msg_created_at=0,
            endpoint_id="ep_1",
            url=url,
            headers={},
            signing_keys=(secret,),
        )
        for i in range(n)
    ]


async def run_round(send: Send, work: list[DeliveryTask]) -> tuple[float, float]:
    """Requests per second and CPU microseconds per request for one round."""
    queue = iter(work)
    statuses: list[int] = []

    async def lane() -> None:
        for task in queue:
            statuses.append(await send(task))

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    bad = sum(1 for s in statuses if not 200 <= s < 300)
    if bad:
        raise RuntimeError(f"{bad} of {len(statuses)} requests failed")
    return len(work) / elapsed, cpu / len(work) * 1e6


class AiohttpClient:
    """The send path as it was before the hookline client: aiohttp, same settings."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=30, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=15, connect=5),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def send(self, task: DeliveryTask) -> int:
        headers = self._sender.signed_headers(task, int(time.time()))
        async with self._session.post(
            task.url, data=task.payload, headers=headers, allow_redirects=False
        ) as resp:
            await resp.content.read(CAP)
            return resp.status

    async def close(self) -> None:
        await self._session.close()


class PyreqwestClient:
    def __init__(self, sender: Sender) -> None:
        from pyreqwest.client import ClientBuilder

        self._sender = sender
        self._client: Any = (
            ClientBuilder()
            .follow_redirects(False)
            .gzip(False)
            .timeout(timedelta(seconds=15))
            .connect_timeout(timedelta(seconds=5))
            .build()
        )

    async def send(self, task: DeliveryTask) -> int:
        headers = self._sender.signed_headers(task, int(time.time()))
        request = self._client.post(task.url).headers(headers).body_bytes(task.payload).build()
        response = await request.send()
        await response.bytes()
        return int(response.status)

    async def close(self) -> None:
        await self._client.close()


async def main(requests: int, rounds: int, only: set[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="hookline-clients-") as tmp:
        async with Receiver(Path(tmp), "receiver") as receiver:
            url = receiver.url("/h/1")
            sender = Sender(SenderConfig(policy=LOOPBACK))
            await sender.open()

            async def hookline_send(task: DeliveryTask) -> int:
                return (await sender.send(task)).status

            clients: dict[str, tuple[Send, Callable[[], Awaitable[None]] | None]] = {}
            old = AiohttpClient(sender)
            clients["aiohttp"] = (old.send, old.close)
            try:
                reqwest = PyreqwestClient(sender)
                clients["pyreqwest"] = (reqwest.send, reqwest.close)
            except ImportError:
                print("pyreqwest is not installed: skipped")
            clients["hookline"] = (hookline_send, None)
            clients = {k: v for k, v in clients.items() if not only or k in only}
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            try:
                for send, _ in clients.values():  # warm up: connections, caches
                    await run_round(send, tasks(url, 2000))
                for r in range(rounds):
                    for name, (send, _) in clients.items():
                        rate, cpu_us = await run_round(send, tasks(url, requests))
                        results[name].append((rate, cpu_us))
                        line = f"{rate:8,.0f} req/s {cpu_us:6.1f} us CPU/req"
                        print(f"round {r + 1} {name:>9}: {line}")
            finally:
                for _, close in clients.values():
                    if close is not None:
                        await close()
                await sender.close()
    print(f"\n{requests:,} requests per round, {IN_FLIGHT} in flight, {rounds} rounds")
    for name, rows in results.items():
        rates = sorted(r for r, _ in rows)
        cpus = sorted(c for _, c in rows)
        print(
            f"{name:>9}: {rates[0]:,.0f}-{rates[-1]:,.0f} req/s, "
            f"{cpus[0]:.0f}-{cpus[-1]:.0f} us CPU/request"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", default=[], help="a client to run")
    args = parser.parse_args()
    try:
        run_async(main(args.requests, args.rounds, set(args.only)))
    finally:
        stop_all()
