"""Failed deliveries are retried on the configured schedule and every attempt is recorded."""

from __future__ import annotations

import asyncio
from datetime import datetime
from itertools import pairwise

import pytest

pytestmark = pytest.mark.e2e

# Delays after the immediate first attempt. Long enough that attempt timestamps cannot tie.
SCHEDULE = (1.5, 1.5, 3.0)
JITTER = 0.2
SUCCESS, FAIL = 0, 2


async def test_retries_follow_schedule_and_attempts_are_recorded(
    start_server, receiver, database_url
):
    env = {"HOOKLINE_RETRY_SCHEDULE": ",".join(map(str, SCHEDULE))}
    server = await asyncio.to_thread(start_server, None, env)
    receiver.script("/flaky", [500, 500, 200], body="not yet")
    url = receiver.url("/flaky")

    async with server.api() as api:
        app_id = await api.create_app("retries")
        endpoint = await api.create_endpoint(app_id, url)
        msg_id = await api.publish(app_id, "order.created", {"order": 1})

        requests = await receiver.wait_for(3, "/flaky", timeout=30)
        assert [r.webhook_id for r in requests] == [msg_id] * 3
        received = [r.received_monotonic for r in requests]
        for n, (before, after) in enumerate(pairwise(received)):
            gap, delay = after - before, SCHEDULE[n]
            assert gap >= delay * (1 - JITTER), f"retry {n + 1} came after {gap:.2f}s < {delay}s"
            assert gap < delay * (1 + JITTER) + 5, f"retry {n + 1} came after {gap:.2f}s"

        attempts: list[dict[str, object]] = []

        async def three_attempts() -> bool:
            attempts[:] = await api.attempts_by_msg(app_id, msg_id)
            return len(attempts) >= 3

        await api.eventually(three_attempts, timeout=15)
        attempts.sort(key=lambda a: datetime.fromisoformat(str(a["timestamp"])))
        assert len(attempts) == 3
        assert [a["status"] for a in attempts] == [FAIL, FAIL, SUCCESS]
        assert [a["responseStatusCode"] for a in attempts] == [500, 500, 200]
        for attempt in attempts:
            assert attempt["msgId"] == msg_id
            assert attempt["endpointId"] == endpoint["id"]
            assert attempt["url"] == url
            assert str(attempt["id"]).startswith("atmpt_")
            assert attempt["triggerType"] == 0
            assert isinstance(attempt["responseDurationMs"], int)
        assert attempts[0]["response"] == "not yet"

        by_endpoint = await api.attempts_by_endpoint(app_id, endpoint["id"])
        assert {a["id"] for a in by_endpoint} == {a["id"] for a in attempts}

    # Success is final: nothing else arrives once the third attempt succeeded.
    await asyncio.sleep(SCHEDULE[2] * (1 + JITTER) + 0.5)
    assert len(receiver.requests("/flaky")) == 3
