"""SIGKILL mid-delivery loses nothing: every publish that got a 202 is delivered after restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict

import httpx
import pytest

pytestmark = pytest.mark.e2e

FIRST_BATCH = 300
LAST_BATCH = 40
DELAY = 0.02  # receiver's answer time: slow enough that deliveries are still flowing at the kill
HELD = 3  # requests the receiver holds unanswered when the process is killed
# A short lease so deliveries leased by the killed process fall due again quickly, and few
# senders so the backlog lasts.
ENV = {
    "HOOKLINE_LEASE_SECONDS": "3",
    "HOOKLINE_REQUEST_TIMEOUT": "2",
    "HOOKLINE_WORKER_CONCURRENCY": "4",
}


async def test_sigkill_then_restart_delivers_every_accepted_message(
    start_server, receiver, database_url
):
    receiver.script("/crash", delay=DELAY)
    server = await asyncio.to_thread(start_server, None, ENV)
    accepted: dict[int, str] = {}  # payload n -> msg id, for every publish answered 202
    in_doubt: set[int] = set()  # publishes cut off by the kill: may or may not exist

    async with server.api() as api:
        app_id = await api.create_app("crash")
        endpoint = await api.create_endpoint(app_id, receiver.url("/crash"))
        secret = await api.endpoint_secret(app_id, endpoint["id"])
        limit = asyncio.Semaphore(8)

        async def publish(n: int) -> None:
            async with limit:
                try:
                    accepted[n] = await api.publish(app_id, "order.created", {"n": n})
                except httpx.TransportError:
                    in_doubt.add(n)

        await asyncio.gather(*(publish(n) for n in range(FIRST_BATCH)))
        assert len(accepted) == FIRST_BATCH
        await receiver.wait_for(30, "/crash")

        # Publish more right up to the kill; whatever got its 202 must survive it.
        batch = range(FIRST_BATCH, FIRST_BATCH + LAST_BATCH)
        last = [asyncio.create_task(publish(n)) for n in batch]
        await receiver.wait_until(
            lambda: len(accepted) >= FIRST_BATCH + 10 or all(t.done() for t in last)
        )
        # From here on the receiver answers nothing: kill only once it holds requests, so
        # the dead process certainly never learned their outcome.
        receiver.hold("/crash")
        before_hold = len(receiver.requests("/crash"))
        await receiver.wait_for(before_hold + HELD, "/crash", timeout=10)
        held = receiver.requests("/crash")[before_hold:]
        assert held and all(r in receiver.unanswered("/crash") for r in held)
        server.kill()  # the gate is still closed: none of the held requests has an answer
        held_at_kill = {r.json()["n"] for r in held}
        receiver.release("/crash")  # the held requests now answer a closed connection
        seen_at_kill = len(receiver.requests("/crash"))
        await asyncio.gather(*last)

    restarted = await asyncio.to_thread(start_server, server.data_dir, ENV)
    assert restarted.proc.poll() is None

    def times_received() -> Counter[int]:
        return Counter(r.json()["n"] for r in receiver.requests("/crash"))

    def done() -> bool:
        counts = times_received()
        return counts.keys() >= accepted.keys() and all(counts[n] >= 2 for n in held_at_kill)

    with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
        await receiver.wait_until(done, timeout=45)

    received = times_received()
    missing = accepted.keys() - received.keys()
    assert not missing, (
        f"accepted but never delivered: {sorted(missing)} "
        f"({seen_at_kill} requests had arrived before the kill)"
    )
    assert received.keys() <= accepted.keys() | in_doubt, "delivered a message nobody published"
    not_redelivered = {n for n in held_at_kill if received[n] < 2}
    assert not not_redelivered, f"in flight at the kill, never sent again: {not_redelivered}"

    ids_by_n: dict[int, set[str | None]] = defaultdict(set)
    for request in receiver.requests("/crash"):
        request.verify(secret)
        ids_by_n[request.json()["n"]].add(request.webhook_id)
    for n, ids in ids_by_n.items():
        assert len(ids) == 1, f"message {n} redelivered under different ids: {ids}"
        if n in accepted:
            assert ids == {accepted[n]}

    # The restarted server records the redeliveries of the held requests as successes.
    async with restarted.api() as api:

        async def recorded() -> bool:
            for n in held_at_kill & accepted.keys():
                attempts = await api.attempts_by_msg(app_id, accepted[n])
                if not any(a["status"] == 0 for a in attempts):
                    return False
            return True

        await api.eventually(recorded, timeout=15)
