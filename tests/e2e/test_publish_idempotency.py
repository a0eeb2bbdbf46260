"""Idempotency-Key on publish, against a real server: concurrent repeats publish once, and
a crash at any moment followed by the client's retries never publishes a key twice."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

pytestmark = pytest.mark.e2e

REPEATS = 20
STREAM = 400


def payload_counts(data_dir: Path) -> Counter[int]:
    """How many stored messages carry each payload ``n``."""
    with contextlib.closing(sqlite3.connect(data_dir / "hookline.db", timeout=10)) as conn:
        found = conn.execute("SELECT payload FROM message WHERE app_id != 'app_operational'")
        return Counter(orjson.loads(p)["n"] for (p,) in found)


def keyed(server, app_id: str, n: int, key: str, query: str = "") -> tuple[str, dict[str, object]]:
    return f"{server.base_url}/api/v1/app/{app_id}/msg{query}", {
        "json": {"eventType": "order.created", "payload": {"n": n}},
        "headers": {**server.auth, "Idempotency-Key": key},
    }


@pytest.mark.parametrize("query", ["", "?with_content=1"], ids=["fast", "route"])
async def test_one_key_sent_twenty_times_at_once_publishes_once(start_server, query: str) -> None:
    server = await asyncio.to_thread(start_server)
    async with server.api() as api:
        app_id = await api.create_app("repeats")
    limits = httpx.Limits(max_connections=REPEATS)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        url, kwargs = keyed(server, app_id, 7, "same-key", query)
        answers = await asyncio.gather(*(client.post(url, **kwargs) for _ in range(REPEATS)))
    assert [a.status_code for a in answers] == [202] * REPEATS, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum("idempotent-replayed" in a.headers for a in answers) == REPEATS - 1
    assert payload_counts(server.data_dir) == Counter({7: 1})


async def test_a_crash_at_any_moment_then_retries_never_publish_a_key_twice(start_server) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    server = await asyncio.to_thread(start_server)
    async with server.api() as api:
        app_id = await api.create_app("crash")
    answered: dict[int, str] = {}
    attempted: set[int] = set()
    kill_after = rng.randrange(20, STREAM // 2)  # answers before the kill

    async with httpx.AsyncClient(timeout=30) as client:
        limit = asyncio.Semaphore(8)
        killed = asyncio.Event()

        async def send(n: int) -> None:
            async with limit:
                if killed.is_set():
                    return
                attempted.add(n)
                url, kwargs = keyed(server, app_id, n, f"key-{n}")
                with contextlib.suppress(httpx.TransportError):
                    response = await client.post(url, **kwargs)
                    assert response.status_code == 202, response.text
                    answered[n] = response.json()["id"]
                    if len(answered) >= kill_after and not killed.is_set():
                        killed.set()
                        server.kill()  # requests in flight never learn their outcome

        await asyncio.gather(*(send(n) for n in range(STREAM)))
    assert killed.is_set()
    sent = max(attempted) + 1  # every request that may have reached the server
    restarted = await asyncio.to_thread(start_server, server.data_dir)

    async with httpx.AsyncClient(timeout=30) as client:
        # the client retries everything it sent, answered or not, with the same key
        requests = [keyed(restarted, app_id, n, f"key-{n}") for n in range(sent)]
        retried = await asyncio.gather(*(client.post(url, **kw) for url, kw in requests))
    assert [r.status_code for r in retried] == [202] * sent, f"seed {seed}"
    for n, first_id in answered.items():
        assert retried[n].json()["id"] == first_id, f"seed {seed}: key-{n}"
        assert retried[n].headers["idempotent-replayed"] == "true"
    counts = payload_counts(server.data_dir)
    assert {n: c for n, c in counts.items() if c > 1} == {}, f"seed {seed}"
    assert set(counts) == set(range(sent)), f"seed {seed}"
