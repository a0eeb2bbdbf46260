"""Background fan-out end to end in process: an application past the inline limit gets
every message at every endpoint once, a FIFO endpoint in publish order."""

from __future__ import annotations

from engine_kit import EngineFactory

ENDPOINTS = 40
MESSAGES = 6


async def test_every_endpoint_gets_every_message_once_and_fifo_keeps_publish_order(
    engine: EngineFactory,
) -> None:
    e = await engine()
    for n in range(ENDPOINTS - 1):
        await e.endpoint(f"/ep{n}")
    await e.endpoint("/fifo", fifo=True)
    published = [(await e.publish(payload=b'{"n":%d}' % n)).id for n in range(MESSAGES)]
    everything = ENDPOINTS * MESSAGES
    await e.receiver.wait_for(everything, timeout=30)
    received = [(r.path, r.webhook_id) for r in e.receiver.requests()]
    assert len(received) == everything == len(set(received))
    assert {m for _, m in received} == set(published)
    assert [r.webhook_id for r in e.receiver.requests("/fifo")] == published
