"""The worker against a real receiver on 127.0.0.1 and a real SQLite store."""

from __future__ import annotations

import asyncio
import base64
import socket

import nacl.signing
import standardwebhooks
from aiohttp.abc import AbstractResolver, ResolveResult
from engine_kit import LOOPBACK_OK, EngineFactory

from hookline.addresses import AddressPolicy
from hookline.breaker import BreakerPolicy, HealthPolicy
from hookline.delivery.sender import Outcome, Sender, SenderConfig
from hookline.models import DeliveryStatus, DeliveryTask, ErrorKind, TriggerType
from hookline.signing import generate_ed25519_keypair, generate_secret, parse_secret
from hookline.store.base import AttemptFilter, PageRequest

NEWEST_FIRST = PageRequest(limit=50, reverse=True)


async def attempts_of(engine, msg_id: str):  # type: ignore[no-untyped-def]
    page = await engine.store.list_attempts(
        engine.app.id, AttemptFilter(), NEWEST_FIRST, msg_id=msg_id
    )
    return list(reversed(page.data))


async def test_delivery_is_signed_exact_bytes_with_custom_headers(engine: EngineFactory) -> None:
    e = await engine()
    ep = await e.endpoint("/hook", headers={"x-team": "billing", "webhook-id": "forged"})
    payload = b'{"z": 1, "a": [1, 2.50, "\\u00e9"]}'
    msg = await e.publish(payload)
    [request] = await e.receiver.wait_for(1, "/hook")
    assert request.body == payload
    assert request.headers["webhook-id"] == msg.id == request.headers["svix-id"]
    assert request.headers["x-team"] == "billing"
    assert request.headers["content-type"] == "application/json"
    standardwebhooks.Webhook(ep.secret).verify(payload.decode(), dict(request.headers))
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.SUCCESS))


async def _status_is(e, msg_id: str, status: DeliveryStatus) -> bool:  # type: ignore[no-untyped-def]
    deliveries = await e.store.list_deliveries(e.app.id, msg_id)
    return bool(deliveries) and all(d.status is status for d in deliveries)


async def test_ed25519_endpoint_signs_v1a(engine: EngineFactory) -> None:
    e = await engine()
    secret_key, public_key = generate_ed25519_keypair()
    await e.endpoint("/ed", secret=secret_key)
    msg = await e.publish()
    [request] = await e.receiver.wait_for(1, "/ed")
    version, _, signature = request.headers["webhook-signature"].partition(",")
    assert version == "v1a"
    signed = f"{msg.id}.{request.headers['webhook-timestamp']}.".encode() + request.body
    verify_key = nacl.signing.VerifyKey(parse_secret(public_key).key)
    verify_key.verify(signed, base64.b64decode(signature))


async def test_failures_retry_on_schedule_then_succeed(engine: EngineFactory) -> None:
    e = await engine(schedule=(0.2, 0.2))
    e.receiver.script("/flaky", [500, 500, 200])
    await e.endpoint("/flaky")
    msg = await e.publish()
    requests = await e.receiver.wait_for(3, "/flaky")
    assert {r.headers["webhook-id"] for r in requests} == {msg.id}
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.SUCCESS))
    attempts = await attempts_of(e, msg.id)
    assert [a.response_status for a in attempts] == [500, 500, 200]
    assert [a.status for a in attempts] == [DeliveryStatus.FAILED] * 2 + [DeliveryStatus.SUCCESS]
    assert requests[1].received_monotonic - requests[0].received_monotonic >= 0.2


async def test_slow_down_status_waits_at_least_a_minute(engine: EngineFactory) -> None:
    e = await engine(schedule=(0.1,))
    e.receiver.script("/busy", [429], headers={"Retry-After": "3600"})
    await e.endpoint("/busy")
    msg = await e.publish()
    await e.receiver.wait_for(1, "/busy")
    await e.until(lambda: _has_attempts(e, msg.id, 1))
    [delivery] = await e.store.list_deliveries(e.app.id, msg.id)
    [attempt] = await attempts_of(e, msg.id)
    assert delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    wait_s = (delivery.next_attempt_at - attempt.created_at) / 1000
    assert 60 <= wait_s <= 121  # Retry-After 3600 clamped to twice the 60 s floor


async def _has_attempts(e, msg_id: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await attempts_of(e, msg_id)) >= n


async def test_exhausted_schedule_fails_the_delivery(engine: EngineFactory) -> None:
    e = await engine(schedule=(0.05,))
    e.receiver.script("/down", default=500, body="boom")
    await e.endpoint("/down")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    attempts = await attempts_of(e, msg.id)
    assert len(attempts) == 2
    assert all(
        a.response_body == "boom" and a.error_kind is ErrorKind.HTTP_STATUS for a in attempts
    )


async def test_redirects_are_failures_and_not_followed(engine: EngineFactory) -> None:
    e = await engine(schedule=())
    e.receiver.script("/moved", [302], headers={"Location": e.receiver.url("/target")})
    await e.endpoint("/moved")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    [attempt] = await attempts_of(e, msg.id)
    assert attempt.response_status == 302
    assert e.receiver.requests("/target") == []


async def test_gone_disables_the_endpoint(engine: EngineFactory) -> None:
    e = await engine()
    e.receiver.script("/gone", default=410)
    ep = await e.endpoint("/gone")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    assert (await e.store.get_endpoint(e.app.id, ep.id)).disabled
    assert len(e.receiver.requests("/gone")) == 1


async def test_timeout_is_recorded(engine: EngineFactory) -> None:
    e = await engine(schedule=(), timeout=0.3)
    e.receiver.script("/slow", delay=3.0)
    await e.endpoint("/slow")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    [attempt] = await attempts_of(e, msg.id)
    assert attempt.error_kind is ErrorKind.TIMEOUT and attempt.response_status == 0


async def test_connection_refused_is_recorded(engine: EngineFactory) -> None:
    e = await engine(schedule=())
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ep = await e.endpoint("/x")
    ep.url = f"http://127.0.0.1:{port}/nobody"
    await e.store.update_endpoint(ep)
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    [attempt] = await attempts_of(e, msg.id)
    assert attempt.error_kind is ErrorKind.CONNECTION_REFUSED


async def test_response_body_is_truncated(engine: EngineFactory) -> None:
    e = await engine()
    e.receiver.script("/big", body="x" * (50 * 1024))
    await e.endpoint("/big")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.SUCCESS))
    [attempt] = await attempts_of(e, msg.id)
    assert len(attempt.response_body) == 20 * 1024


async def test_malformed_http_is_an_invalid_response(engine: EngineFactory) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        e = await engine(schedule=())
        ep = await e.endpoint("/x")
        ep.url = f"http://127.0.0.1:{port}/"
        await e.store.update_endpoint(ep)
        msg = await e.publish()
        await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
        [attempt] = await attempts_of(e, msg.id)
        assert attempt.error_kind is ErrorKind.INVALID_RESPONSE
    finally:
        server.close()


async def test_ssrf_guard_blocks_loopback_when_on(engine: EngineFactory) -> None:
    guard_on = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=False)
    no_breaker = HealthPolicy(breaker=BreakerPolicy(threshold=1000))
    e = await engine(schedule=(), policy=guard_on, health=no_breaker)
    ep = await e.endpoint("/private")
    msgs = []
    disguises = (
        "127.0.0.1",
        "localhost",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.000.000.001",
        "0x7f.1",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
    )
    for host in disguises:
        ep.url = f"http://{host}:{e.receiver.port}/private"
        ep = await e.store.update_endpoint(ep)
        msgs.append(await e.publish())
        await e.until(lambda: _status_is(e, msgs[-1].id, DeliveryStatus.FAILED))
    for msg in msgs:
        [attempt] = await attempts_of(e, msg.id)
        assert attempt.error_kind is ErrorKind.BLOCKED, attempt.url
    assert e.receiver.requests() == []


async def test_manual_resend_is_one_attempt(engine: EngineFactory) -> None:
    e = await engine(schedule=())
    e.receiver.script("/r", [500, 500])
    ep = await e.endpoint("/r")
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    await e.store.resend(e.app.id, msg.id, ep.id, 0)
    await e.until(lambda: _has_attempts(e, msg.id, 2))
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    attempts = await attempts_of(e, msg.id)
    assert [a.trigger for a in attempts] == [TriggerType.SCHEDULED, TriggerType.MANUAL]
    assert len(e.receiver.requests("/r")) == 2


class UnresolvableNames(AbstractResolver):
    """Answers every lookup the way a resolver does for a name that does not exist,
    without sending a DNS query anywhere."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def close(self) -> None:
        pass


async def send_once(url: str) -> Outcome:
    """One send through a real sender whose resolver knows no names (no DNS traffic)."""
    sender = Sender(SenderConfig(policy=LOOPBACK_OK), resolver=UnresolvableNames())
    await sender.open()
    try:
        return await sender.send(_task(url))
    finally:
        await sender.close()


async def test_dns_failure_is_recorded() -> None:
    outcome = await send_once("http://hooks.example.invalid/x")
    assert outcome.error_kind is ErrorKind.DNS and outcome.status == 0


async def test_tls_failure_is_recorded(engine: EngineFactory) -> None:
    """https:// to a plain-HTTP listener fails the handshake."""
    e = await engine(schedule=())
    ep = await e.endpoint("/tls")
    ep.url = f"https://127.0.0.1:{e.receiver.port}/tls"
    await e.store.update_endpoint(ep)
    msg = await e.publish()
    await e.until(lambda: _status_is(e, msg.id, DeliveryStatus.FAILED))
    [attempt] = await attempts_of(e, msg.id)
    assert attempt.error_kind is ErrorKind.TLS


def _task(url: str) -> DeliveryTask:
    return DeliveryTask(
        delivery_id="dlv_1",
        attempts=0,
        trigger=TriggerType.SCHEDULED,
        msg_id="msg_1",
        app_id="app_1",
        event_type="a.b",
        payload=b"{}",
        msg_created_at=0,
        endpoint_id="ep_1",
        url=url,
        headers={},
        signing_keys=(generate_secret(),),
    )


async def test_an_unusable_url_is_recorded_without_its_credentials() -> None:
    """The attempt log is shown by the API: an error about the URL must not quote it."""
    outcome = await send_once("ftp://alice:hunter2@127.0.0.1:9/x")
    assert outcome.error_kind is ErrorKind.CONNECTION_ERROR and outcome.status == 0
    assert "hunter2" not in outcome.body and "***@127.0.0.1" in outcome.body
