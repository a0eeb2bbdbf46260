"""The PostgreSQL benchmark's own correctness: the driver measurement runs the paths it
claims to (a publish writes its rows, concurrent claimers never lease one delivery
twice, every claimed delivery is recorded), on a real server, through every driver; and
the report shows a failed part of the scenario instead of hiding it."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from bench.pg_drivers import ENDPOINTS, prepare
from bench.pg_paths import DRIVERS, dollar, make
from bench.sections_pg import section_postgres


def test_placeholders_become_numbered_for_asyncpg() -> None:
    assert dollar("a = ? AND b IN (?, ?)") == "a = $1 AND b IN ($2, $3)"
    assert dollar("SELECT 1") == "SELECT 1"


@pytest.fixture
def bench_url(postgres_server: object, postgres_url: str) -> str:
    """A migrated database with the publishers' endpoints and a claim backlog."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DELETE FROM endpoint_state")
    prepare(postgres_url, backlog=2_000)
    return postgres_url


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT COUNT(*) FROM message), (SELECT COUNT(*) FROM delivery"
            " WHERE msg_id <> 'msg_b'), (SELECT COUNT(*) FROM delivery WHERE status = 0),"
            " (SELECT COUNT(*) FROM attempt), (SELECT COUNT(DISTINCT delivery_id) FROM"
            " attempt), (SELECT COUNT(*) FROM endpoint_state WHERE next_due_at IS NOT NULL)"
        ).fetchone()
    assert row is not None
    keys = ("messages", "published", "recorded", "attempts", "attempted", "due_endpoints")
    return dict(zip(keys, (int(v) for v in row), strict=True))


@pytest.mark.parametrize("name", DRIVERS)
async def test_each_driver_publishes_and_claims_without_leasing_twice(
    bench_url: str, name: str
) -> None:
    driver = make(name)
    await driver.open(bench_url, 4)
    try:
        assert await driver.publish(0, 10) == 10
        assert await driver.publish(1, 1) == 1

        async def claimer(worker: int) -> int:
            total = 0
            for turn in range(12):
                total += await driver.claim(worker, f"ep_claim_{(worker + turn) % ENDPOINTS}")
            return total

        claimed = await asyncio.gather(*(claimer(w) for w in range(4)))
    finally:
        await driver.close()
    got = counts(bench_url)
    assert got["messages"] == 2 and got["published"] == 11
    assert got["due_endpoints"] == 11  # each publish moved its endpoints' due time
    # 4 claimers x 12 claims x up to 32: every claimed delivery recorded exactly once
    assert sum(claimed) > 0
    assert got["recorded"] == got["attempts"] == got["attempted"] == sum(claimed)


def test_a_failed_part_is_shown_beside_the_rows_that_ran() -> None:
    result = {
        "postgres": "PostgreSQL 15",
        "ceiling": {"rate": 2000.0, "runs": [1900.0, 2100.0]},
        "drain_rows": [
            {
                "label": "1 endpoint",
                "processes_asked": 2,
                "delivered": 5000,
                "queued": 5000,
                "rate": 1000.0,
                "worker_cpu_cores": 0.8,
                "worker_peak_rss_mb": 90.0,
                "db": {"attempts": 5000, "deliveries_success": 5000},
            }
        ],
        "end_to_end_error": "RuntimeError: 503 from the API",
    }
    text = section_postgres(result)
    assert "| 1 endpoint, 2 `hookline worker` | 5,000 / 5,000 | 1,000/s | 50 % |" in text
    assert "**The end-to-end rows failed:** RuntimeError: 503 from the API" in text
