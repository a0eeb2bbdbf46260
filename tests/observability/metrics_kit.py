"""The real runtime (intake, API, router, worker) on 127.0.0.1 and a SQLite file, and
``/metrics`` read back with prometheus_client's parser (imported as ``metrics_kit``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hookline import runtime
from hookline.config import Settings
from hookline.store.base import Store
from hookline.testing.ports import free_port
from hookline.testing.roles import running

TOKEN = "metrics-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Labels = tuple[tuple[str, str], ...]


def parse(text: str) -> dict[str, dict[Labels, float]]:
    """Sample name -> {sorted labels: value}, as a scraper reads the exposition."""
    out: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def value(samples: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if wanted <= set(k))


@dataclass
class Served:
    base_url: str
    store: Store
    client: httpx.AsyncClient

    async def scrape(self, **headers: str) -> dict[str, dict[Labels, float]]:
        resp = await self.client.get("/metrics", headers=headers or AUTH)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/plain")
        return parse(resp.text)

    async def call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        resp = await self.client.request(method, path, headers=AUTH, **kw)
        assert resp.status_code == expect, resp.text
        return resp.json() if resp.content else None


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def serve(tmp_path: Path, **overrides: Any) -> AsyncIterator[Served]:
    port = free_port()
    fields: dict[str, Any] = {
        "data_dir": tmp_path / f"data{port}",
        "host": "127.0.0.1",
        "port": port,
        "api_token": TOKEN,
        "sqlite_synchronous": "NORMAL",
        "retry_schedule": (0.2, 0.2),
        "retry_jitter": 0,
        "poll_interval": 0.2,
        **overrides,
    }
    roles = runtime.build_roles(Settings(**fields), dev=True)
    base = f"http://127.0.0.1:{port}"
    async with running(roles), httpx.AsyncClient(base_url=base, timeout=15.0) as client:
        yield Served(base, roles.store, client)
