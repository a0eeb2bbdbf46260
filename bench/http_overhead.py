"""CPU cost of the API's HTTP limits per request, in process, without sockets.

Feeds the same keep-alive publish request (7 headers, about 1 KiB of JSON) through uvicorn's
``HttpToolsProtocol`` and through hookline's ``LimitedHttpProtocol``, in alternating
batches, to an ASGI app that reads the body and answers 202, and reports the best batch of
each in microseconds per request. Over a loaded machine the end-to-end A/B
(``bench.publish_api``) cannot resolve a difference this small; this can.

    python -m bench.http_overhead --requests 20000 --batches 7
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench.api import message_body
from hookline.api.http_server import HttpLimits, protocol_class

BODY = message_body(1)
REQUEST = (
    b"POST /api/v1/app/app_x/msg HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
    b"Authorization: Bearer hk_bench_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
    b"Content-Type: application/json\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
    b"User-Agent: Python/3.11 aiohttp/3.14.5\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


class Transport(asyncio.Transport):
    """Counts writes; every request is keep-alive, so nothing closes it before the end."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name in ("sockname", "peername") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def batch(cls: type[HttpToolsProtocol], requests: int) -> float:
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="none")
    config.load()
    protocol = cls(config, ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    started = time.perf_counter()
    for _ in range(requests):
        writes = transport.writes
        protocol.data_received(REQUEST)
        while transport.writes < writes + 2:  # head, then body
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    protocol.connection_lost(None)
    return elapsed / requests * 1e6


async def main(requests: int, batches: int) -> None:
    classes: dict[str, type[HttpToolsProtocol]] = {
        "uvicorn": HttpToolsProtocol,
        "limited": protocol_class(HttpLimits()),
    }
    best = {name: float("inf") for name in classes}
    for _ in range(batches):
        for name, cls in classes.items():
            best[name] = min(best[name], await batch(cls, requests))
    base = best["uvicorn"]
    for name, us in best.items():
        print(f"{name}: {us:.1f} us/request ({(us / base - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=7)
    args = parser.parse_args()
    import uvloop

    uvloop.run(main(args.requests, args.batches))
