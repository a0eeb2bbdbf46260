"""The worker against receivers that misbehave below HTTP: hang, reset, dribble, flood, lie.

Each test publishes one message to an endpoint on a :class:`ChaosReceiver` path, waits for
the one attempt, and checks what was recorded and when the delivery is due next. The
retry schedule is long (``RETRY_IN``) and the fixture's jitter is zero, so the next time
is exact up to the send's own duration: bounds are "at least" the policy's delay and "at
most" that plus a generous ``SLACK``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from engine_kit import Engine, EngineFactory

from hookline.models import Attempt, Delivery, DeliveryStatus, ErrorKind
from hookline.store.base import AttemptFilter, PageRequest
from hookline.testing import ChaosExchange, ChaosReceiver, MiB

RETRY_IN = 30.0  # the schedule's first retry delay, far beyond any test's duration
SCHEDULE = (RETRY_IN,)
SLOW_DOWN_FLOOR = 60.0
SLACK = 10.0  # send duration plus scheduling noise; only ever used as an upper bound
SHORT_TIMEOUT = 0.5
NEWEST_FIRST = PageRequest(limit=50, reverse=True)


@pytest.fixture
async def chaos() -> AsyncIterator[ChaosReceiver]:
    async with ChaosReceiver() as rx:
        yield rx


@dataclass
class Settled:
    """The first attempt of a delivery, and the delivery as the attempt left it."""

    attempt: Attempt
    delivery: Delivery
    exchange: ChaosExchange

    @property
    def wait_s(self) -> float:
        """Seconds from the attempt's start to the delivery's next scheduled attempt."""
        assert self.delivery.next_attempt_at is not None, "no next attempt scheduled"
        return (self.delivery.next_attempt_at - self.attempt.created_at) / 1000


async def deliver_once(e: Engine, chaos: ChaosReceiver, path: str) -> Settled:
    """Aim a new endpoint at ``path``, publish one message, wait for its recorded attempt."""
    await e.endpoint(path, url=chaos.url(path))
    msg = await e.publish()

    async def attempted() -> bool:
        attempts = await _attempts(e, msg.id)
        deliveries = await e.store.list_deliveries(e.app.id, msg.id)
        return bool(attempts) and deliveries[0].status is not DeliveryStatus.SENDING

    await e.until(attempted, timeout=8)
    [attempt] = await _attempts(e, msg.id)
    [delivery] = await e.store.list_deliveries(e.app.id, msg.id)
    [exchange] = chaos.exchanges(path)
    assert exchange.request.headers["webhook-id"] == msg.id
    return Settled(attempt, delivery, exchange)


async def _attempts(e: Engine, msg_id: str) -> list[Attempt]:
    page = await e.store.list_attempts(e.app.id, AttemptFilter(), NEWEST_FIRST, msg_id=msg_id)
    return list(reversed(page.data))


def assert_failed_on_schedule(s: Settled, kind: ErrorKind, response_status: int = 0) -> None:
    assert s.attempt.status is DeliveryStatus.FAILED
    assert s.attempt.error_kind is kind, s.attempt.response_body
    assert s.attempt.response_status == response_status
    assert s.delivery.status is DeliveryStatus.PENDING
    assert RETRY_IN <= s.wait_s <= RETRY_IN + SLACK


async def test_hanging_receiver_times_out(engine: EngineFactory, chaos: ChaosReceiver) -> None:
    e = await engine(schedule=SCHEDULE, timeout=SHORT_TIMEOUT)
    chaos.hang("/hang")
    s = await deliver_once(e, chaos, "/hang")
    assert_failed_on_schedule(s, ErrorKind.TIMEOUT)
    assert s.attempt.duration_ms >= SHORT_TIMEOUT * 1000 * 0.8
    # The worker hung up after its timeout instead of leaking the connection.
    await chaos.wait_until(lambda: s.exchange.finished, timeout=5)
    assert s.exchange.peer_closed and s.exchange.bytes_written == 0


async def test_connection_reset_is_a_connection_error(
    engine: EngineFactory, chaos: ChaosReceiver
) -> None:
    e = await engine(schedule=SCHEDULE)
    chaos.reset("/reset")
    s = await deliver_once(e, chaos, "/reset")
    assert_failed_on_schedule(s, ErrorKind.CONNECTION_ERROR)
    assert s.exchange.bytes_written == 0


async def test_dribbled_body_past_the_timeout_times_out(
    engine: EngineFactory, chaos: ChaosReceiver
) -> None:
    e = await engine(schedule=SCHEDULE, timeout=SHORT_TIMEOUT)
    chaos.dribble("/drip", seconds=SHORT_TIMEOUT * 6, chunk=b"drip", interval=0.1)
    s = await deliver_once(e, chaos, "/drip")
    # The 200 head arrived at once; the timeout covers reading the body too.
    assert_failed_on_schedule(s, ErrorKind.TIMEOUT)
    await chaos.wait_until(lambda: s.exchange.finished, timeout=5)
    assert s.exchange.peer_closed


async def test_huge_body_is_capped_and_not_read_to_the_end(
    engine: EngineFactory, chaos: ChaosReceiver
) -> None:
    e = await engine(schedule=SCHEDULE)
    chaos.huge("/huge", 50 * MiB)
    s = await deliver_once(e, chaos, "/huge")
    assert s.attempt.status is DeliveryStatus.SUCCESS
    assert s.attempt.response_status == 200 and s.attempt.error_kind is None
    assert len(s.attempt.response_body) == 20 * 1024
    assert s.delivery.status is DeliveryStatus.SUCCESS and s.delivery.next_attempt_at is None
    # The worker dropped the connection after 20 KiB: the server could not write it all.
    await chaos.wait_until(lambda: s.exchange.finished, timeout=5)
    assert s.exchange.peer_closed
    assert s.exchange.bytes_written < 50 * MiB


@pytest.mark.parametrize("code", [301, 302, 307, 308])
async def test_redirect_is_a_failure_and_not_followed(
    engine: EngineFactory, chaos: ChaosReceiver, code: int
) -> None:
    e = await engine(schedule=SCHEDULE)
    chaos.status("/moved", code, headers={"Location": chaos.url("/target")})
    s = await deliver_once(e, chaos, "/moved")
    # A 3xx is an ordinary failure on the schedule, not a slow-down.
    assert_failed_on_schedule(s, ErrorKind.HTTP_STATUS, response_status=code)
    assert chaos.requests("/target") == []


async def test_gone_disables_the_endpoint(engine: EngineFactory, chaos: ChaosReceiver) -> None:
    e = await engine(schedule=SCHEDULE)
    chaos.status("/gone", 410)
    s = await deliver_once(e, chaos, "/gone")
    assert s.attempt.status is DeliveryStatus.FAILED
    assert s.attempt.error_kind is ErrorKind.HTTP_STATUS and s.attempt.response_status == 410
    assert s.delivery.status is DeliveryStatus.FAILED and s.delivery.next_attempt_at is None
    assert (await e.store.get_endpoint(e.app.id, s.attempt.endpoint_id)).disabled
    assert len(chaos.requests("/gone")) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected_s"),
    [
        ("90", 90.0),  # inside [60 s, 120 s]: honoured as is
        ("10", SLOW_DOWN_FLOOR),  # below the floor: raised to 60 s
        ("3600", 2 * SLOW_DOWN_FLOOR),  # above twice the delay: clamped to 120 s
    ],
)
async def test_too_many_requests_honours_clamped_retry_after(
    engine: EngineFactory, chaos: ChaosReceiver, retry_after: str, expected_s: float
) -> None:
    # The schedule says 5 s; a 429 makes that at least 60 s, and Retry-After may
    # stretch it to at most twice that.
    e = await engine(schedule=(5.0,))
    chaos.status("/busy", 429, headers={"Retry-After": retry_after})
    s = await deliver_once(e, chaos, "/busy")
    assert s.attempt.status is DeliveryStatus.FAILED
    assert s.attempt.error_kind is ErrorKind.HTTP_STATUS and s.attempt.response_status == 429
    assert s.delivery.status is DeliveryStatus.PENDING
    assert expected_s <= s.wait_s <= expected_s + SLACK


@pytest.mark.parametrize("code", [429, 502, 503, 504])
async def test_slow_down_without_retry_after_waits_a_minute(
    engine: EngineFactory, chaos: ChaosReceiver, code: int
) -> None:
    e = await engine(schedule=(5.0,))
    chaos.status("/unavailable", code, body="try later")
    s = await deliver_once(e, chaos, "/unavailable")
    assert s.attempt.status is DeliveryStatus.FAILED
    assert s.attempt.error_kind is ErrorKind.HTTP_STATUS and s.attempt.response_status == code
    assert s.attempt.response_body == "try later"
    assert s.delivery.status is DeliveryStatus.PENDING
    assert SLOW_DOWN_FLOOR <= s.wait_s <= SLOW_DOWN_FLOOR + SLACK


async def test_malformed_response_is_invalid(engine: EngineFactory, chaos: ChaosReceiver) -> None:
    e = await engine(schedule=SCHEDULE)
    chaos.malformed("/junk")
    s = await deliver_once(e, chaos, "/junk")
    assert_failed_on_schedule(s, ErrorKind.INVALID_RESPONSE)


async def test_stop_drops_hanging_and_dribbling_connections_at_once() -> None:
    """The chaos server's own teardown: nothing it holds open may outlive stop()."""
    rx = ChaosReceiver()
    await rx.start()
    rx.hang("/hang")
    rx.dribble("/drip", seconds=60)
    clients = []
    for path in ("/hang", "/drip"):
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        await writer.drain()
        clients.append((reader, writer))
    await rx.wait_for(2)
    started = time.monotonic()
    await rx.stop()
    assert time.monotonic() - started < 2
    assert all(x.finished for x in rx.exchanges())
    for reader, writer in clients:
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(reader.read(), timeout=2)  # EOF or reset, not a hang
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert [r.body for r in rx.requests()] == [b"{}", b"{}"]
