"""The client side of ``bench/receiver.py``: start it, read its counts and records."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from bench.harness import Deadline, free_port, log
from bench.processes import Proc, start_process, wait_http


@dataclass
class ReceiverStats:
    count: int
    hung: int
    first: float
    last: float
    classes: dict[str, int] = field(default_factory=dict)
    marks: list[tuple[int, float]] = field(default_factory=list)

    def rate(self) -> float:
        span = self.last - self.first
        return (self.count - 1) / span if self.count > 1 and span > 0 else 0.0


@dataclass
class Receipt:
    cls: str
    msg_id: str
    at: float


class Receiver:
    """bench/receiver.py in its own process, with a client for its control paths."""

    def __init__(
        self,
        log_dir: Path,
        name: str = "receiver",
        record: bool = False,
        port: int | None = None,
        mark: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.name = name
        self.record_file = log_dir / f"{name}.records" if record else None
        argv: list[str | Path] = [sys.executable, "-m", "bench.receiver", str(self.port)]
        if self.record_file is not None:
            argv += ["--record", self.record_file]
        if mark:
            argv += ["--mark", str(mark)]
        self.proc = start_process(name, argv, log_dir)
        self._session: aiohttp.ClientSession | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> Receiver:
        self._session = aiohttp.ClientSession()
        await wait_http(self._session, self.url("/__stats"), Deadline(15), self.proc)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        await self.proc.stop(grace=5)

    async def stats(self) -> ReceiverStats:
        assert self._session is not None
        async with self._session.get(self.url("/__stats")) as resp:
            data = await resp.json(loads=orjson.loads)
        marks = [(int(c), float(t)) for c, t in data.pop("marks", [])]
        return ReceiverStats(**data, marks=marks)

    async def receipts(self) -> list[Receipt]:
        """Every answered request, with its webhook-id and time of arrival."""
        assert self._session is not None and self.record_file is not None
        timeout = aiohttp.ClientTimeout(total=60)
        async with self._session.get(self.url("/__dump"), timeout=timeout) as resp:
            await resp.read()
        out: list[Receipt] = []
        with self.record_file.open() as fh:
            for line in fh:
                cls, wid, at = line.split()
                out.append(Receipt(cls, wid, float(at)))
        return out

    async def wait_count(
        self,
        target: int,
        deadline: Deadline,
        cls: str | None = None,
        watch: Proc | Sequence[Proc] | None = None,
        every: float = 0.1,
        label: str = "delivered",
    ) -> ReceiverStats:
        """Poll until ``target`` requests (of class ``cls``) arrived, or the deadline."""
        last_print = time.monotonic()
        watched = [watch] if isinstance(watch, Proc) else list(watch or [])
        stats = await self.stats()
        while not deadline.expired:
            stats = await self.stats()
            got = stats.classes.get(cls, 0) if cls is not None else stats.count
            if got >= target:
                return stats
            for proc in watched:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            if time.monotonic() - last_print >= 10:
                log(f"  {label} {got:,} / {target:,}")
                last_print = time.monotonic()
            await asyncio.sleep(every)
        return stats
