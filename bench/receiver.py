"""A minimal keep-alive HTTP receiver on a raw asyncio protocol, so that the
receiver is never the bottleneck of a benchmark.

Every POST is answered with 204, except under ``/hang/...``: those requests are read
and never answered (a subscriber that accepts the connection and then stalls).
The first path segment is the request's *class* (``/h/3`` is class ``h``); counts
are kept per class.

Control requests (GET, answered with JSON):

- ``/__stats``: ``{"count", "hung", "first", "last", "classes"}``: requests answered,
  requests left hanging, wall-clock time of the first and last answered request,
  and answered requests per class.
  With ``--mark N`` it also has ``"marks"``: ``[count, time]`` at every N-th answered
  request, for rates per slice of a long run without keeping every timestamp.
- ``/__dump``: with ``--record FILE``, writes one line per answered request,
  ``class webhook-id unix-time``, to FILE and answers ``{"records": n}``.

Run as ``python -m bench.receiver PORT [--record FILE]``; it prints ``ready`` and,
on SIGTERM, the number of requests it answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path
from typing import cast

RESPONSE = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"
HANG = b"hang"


class Stats:
    count = 0
    hung = 0
    first = 0.0
    last = 0.0
    classes: dict[bytes, int] = {}  # noqa: RUF012 - process-wide counters
    records: list[tuple[bytes, bytes, float]] | None = None
    record_file: Path | None = None
    mark_every = 0
    marks: list[tuple[int, float]] = []  # noqa: RUF012 - process-wide


def control(path: bytes) -> bytes:
    if path.startswith(b"/__dump") and Stats.records is not None and Stats.record_file:
        with Stats.record_file.open("w") as fh:
            for cls, wid, at in Stats.records:
                fh.write(f"{cls.decode()} {wid.decode()} {at:.6f}\n")
        body = json.dumps({"records": len(Stats.records)}).encode()
    else:
        stats: dict[str, object] = {
            "count": Stats.count,
            "hung": Stats.hung,
            "first": Stats.first,
            "last": Stats.last,
            "classes": {k.decode(): v for k, v in Stats.classes.items()},
        }
        if Stats.mark_every:
            stats["marks"] = Stats.marks
        body = json.dumps(stats).encode()
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class ReceiverProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        while True:
            head_end = buf.find(b"\r\n\r\n", pos)
            if head_end < 0:
                break
            head = buf[pos:head_end]
            lower = head.lower()
            length = 0
            marker = lower.find(b"content-length:")
            if marker >= 0:
                line_end = lower.find(b"\r\n", marker)
                line_end = len(lower) if line_end < 0 else line_end
                length = int(lower[marker + 15 : line_end].strip())
            total = head_end + 4 + length
            if len(buf) < total:
                break
            pos = total
            self.handle(head, lower)
        self.buffer = buf[pos:]

    def handle(self, head: bytes, lower: bytes) -> None:
        transport = self.transport
        assert transport is not None
        line_end = head.find(b"\r\n")
        parts = head[: line_end if line_end >= 0 else len(head)].split(b" ")
        path = parts[1] if len(parts) > 1 else b"/"
        if path.startswith(b"/__"):
            transport.write(control(path))
            return
        cls = path.split(b"/", 2)[1] if path.count(b"/") >= 1 else b""
        if cls == HANG:
            Stats.hung += 1
            return
        now = time.time()
        if not Stats.count:
            Stats.first = now
        Stats.last = now
        Stats.count += 1
        if Stats.mark_every and Stats.count % Stats.mark_every == 0:
            Stats.marks.append((Stats.count, now))
        Stats.classes[cls] = Stats.classes.get(cls, 0) + 1
        if Stats.records is not None:
            marker = lower.find(b"\r\nwebhook-id:")
            wid = b"-"
            if marker >= 0:
                end = lower.find(b"\r\n", marker + 2)
                wid = head[marker + 13 : end if end >= 0 else len(head)].strip()
            Stats.records.append((cls or b"-", wid, now))
        transport.write(RESPONSE)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(ReceiverProtocol, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    print(Stats.count, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="benchmark receiver")
    parser.add_argument("port", type=int)
    parser.add_argument("--record", type=Path, default=None, help="where /__dump writes")
    parser.add_argument("--mark", type=int, default=0, help="time every N-th request")
    args = parser.parse_args()
    Stats.mark_every = max(0, args.mark)
    if args.record is not None:
        Stats.records = []
        Stats.record_file = args.record
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port))
    else:
        uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
