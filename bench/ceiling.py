"""The ceiling baseline: a bare sender with aiohttp and uvloop, no persistence.

It signs every request the way hookline does (Standard Webhooks ``v1``,
HMAC-SHA256 over ``{id}.{timestamp}.{body}``) and keeps ``--concurrency`` requests in
flight against one URL over keep-alive connections. Bounded by ``--count`` and
``--time-limit``. Prints one JSON line with what it did.

    python -m bench.ceiling --url http://127.0.0.1:PORT/h/0 --count 30000
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

import aiohttp

from bench.harness import payload_bytes


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


async def run(url: str, count: int, concurrency: int, time_limit: float) -> dict[str, object]:
    key = os.urandom(24)
    bodies = [payload_bytes(i) for i in range(count)]
    next_index = 0
    ok = failed = 0
    stop_at = time.monotonic() + time_limit
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=15, connect=5)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def sender() -> None:
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
                    async with session.post(url, data=bodies[i], headers=headers) as resp:
                        await resp.read()
                        if 200 <= resp.status < 300:
                            ok += 1
                        else:
                            failed += 1
                except (aiohttp.ClientError, OSError, TimeoutError):
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"ok": ok, "failed": failed, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(run(args.url, args.count, args.concurrency, args.time_limit))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
