"""The ceiling baselines: bare senders with no persistence, one per ``--client``.

Each signs every request the way hookline does (Standard Webhooks ``v1``,
HMAC-SHA256 over ``{id}.{timestamp}.{body}``) and keeps ``--concurrency`` requests in
flight against one URL over keep-alive connections, on uvloop. Bounded by ``--count``
and ``--time-limit``. Prints one JSON line with what it did.

- ``aiohttp``: one ``ClientSession`` (the client hookline's worker has used);
- ``raw``: one HTTP/1.1 keep-alive connection per in-flight request on a plain asyncio
  protocol, responses parsed by ``httptools`` (uvicorn's parser): about the least
  Python can do per request;
- ``pyreqwest``: the Rust ``reqwest`` client through its Python binding.

    python -m bench.ceiling --url http://127.0.0.1:PORT/h/0 --count 30000 --client raw
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import cast
from urllib.parse import urlsplit

from bench.harness import payload_bytes

CLIENTS = ("aiohttp", "raw", "pyreqwest")

# send(headers, body) -> HTTP status
Send = Callable[[dict[str, str], bytes], Awaitable[int]]


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


async def drive(
    sends: list[Send], count: int, time_limit: float, errors: tuple[type[BaseException], ...]
) -> dict[str, object]:
    """One coroutine per ``sends`` entry, each sending back to back until done."""
    key = os.urandom(24)
    bodies = [payload_bytes(i) for i in range(count)]
    next_index = 0
    ok = failed = 0
    stop_at = time.monotonic() + time_limit

    async def sender(send: Send) -> None:
        nonlocal next_index, ok, failed
        while next_index < count and time.monotonic() < stop_at:
            i = next_index
            next_index += 1
            msg_id = f"msg_ceiling{i:016d}"
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(key, msg_id, timestamp, bodies[i]),
            }
            try:
                status = await send(headers, bodies[i])
            except errors:
                failed += 1
                continue
            if 200 <= status < 300:
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(sender(s) for s in sends))
    return {"ok": ok, "failed": failed, "seconds": time.perf_counter() - started}


async def run_aiohttp(url: str, count: int, concurrency: int, limit: float) -> dict[str, object]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(headers: dict[str, str], body: bytes) -> int:
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        errors = (aiohttp.ClientError, OSError, TimeoutError)
        return await drive([send] * concurrency, count, limit, errors)


class RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("connection lost"))


async def run_raw(url: str, count: int, concurrency: int, limit: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {parts.netloc}\r\n".encode()
    loop = asyncio.get_running_loop()

    def make_send() -> Send:
        conn: RawConnection | None = None

        async def send(headers: dict[str, str], body: bytes) -> int:
            nonlocal conn
            if conn is None or conn.transport is None:
                _, conn = await loop.create_connection(RawConnection, host, port)
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            conn.done = loop.create_future()
            assert conn.transport is not None
            conn.transport.write(
                head + f"{lines}content-length: {len(body)}\r\n\r\n".encode() + body
            )
            return await asyncio.wait_for(conn.done, 15)

        return send

    import httptools

    errors = (OSError, TimeoutError, httptools.HttpParserError)
    return await drive([make_send() for _ in range(concurrency)], count, limit, errors)


async def run_pyreqwest(url: str, count: int, concurrency: int, limit: float) -> dict[str, object]:
    from pyreqwest.client import ClientBuilder
    from pyreqwest.exceptions import PyreqwestError

    builder = ClientBuilder().http1_only().timeout(timedelta(seconds=15))
    async with builder.max_connections(concurrency).build() as client:

        async def send(headers: dict[str, str], body: bytes) -> int:
            request = client.post(url).headers(headers).body_bytes(body).build()
            resp = await request.send()
            await resp.bytes()
            return int(resp.status)

        errors = (PyreqwestError, OSError, TimeoutError)
        return await drive([send] * concurrency, count, limit, errors)


RUNNERS = {"aiohttp": run_aiohttp, "raw": run_raw, "pyreqwest": run_pyreqwest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--client", choices=CLIENTS, default="aiohttp")
    args = parser.parse_args()
    import uvloop

    runner = RUNNERS[args.client]
    result = uvloop.run(runner(args.url, args.count, args.concurrency, args.time_limit))
    print(json.dumps({"client": args.client, **result}), flush=True)


if __name__ == "__main__":
    main()
