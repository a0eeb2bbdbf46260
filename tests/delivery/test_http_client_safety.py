"""The delivery client's safety: TLS verification, the SSRF guard at connect time, and
headers that could split a request. Servers are raw asyncio servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from engine_kit import LOOPBACK_OK
from http_kit import BOUND, RawServer, Seen, answer, self_signed, send, sender, task

from hookline.addresses import AddressPolicy
from hookline.delivery.sender import Sender, SenderConfig
from hookline.models import ErrorKind

__all__ = ["sender"]


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path, "localhost")


def _server_context(cert: Path, key: Path, names: list[str | None]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,func-returns-value]
    return context


async def test_self_signed_certificate_is_refused_as_tls(
    sender: Sender, tls_files: tuple[Path, Path]
) -> None:
    names: list[str | None] = []

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    async with RawServer(ok, ssl_context=_server_context(*tls_files, names)) as server:
        outcome = await send(sender, server.url(scheme="https", host="localhost"))
    assert outcome.error_kind is ErrorKind.TLS and outcome.status == 0
    assert "certificate" in outcome.body.lower()
    assert server.seen == []


async def test_trusted_certificate_is_verified_with_sni(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    names: list[str | None] = []
    trusting = ssl.create_default_context(cafile=str(cert))
    s = Sender(SenderConfig(policy=LOOPBACK_OK), ssl_context=trusting)
    await s.open()

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer, body=b"secure")

    try:
        async with RawServer(ok, ssl_context=_server_context(cert, key, names)) as server:
            outcome = await send(s, server.url(scheme="https", host="localhost"))
            again = await send(s, server.url(scheme="https", host="localhost"))
    finally:
        await s.close()
    assert (outcome.status, outcome.body, again.status) == (200, "secure", 200)
    assert names == ["localhost"]  # one handshake: the second send reused the connection
    assert [seen.header("host") for seen in server.seen] == [f"localhost:{server.port}"] * 2


# ----- the guard at connect time ---------------------------------------------------------


class Answers(AbstractResolver):
    """A resolver that answers each lookup from a list, as an attacker's DNS would, and
    counts lookups; it sends no DNS query anywhere."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        return [
            ResolveResult(hostname=host, host=h, port=port, family=socket.AF_INET, proto=0, flags=0)
            for h in self.answers.pop(0)
        ]

    async def close(self) -> None:
        pass


async def test_connection_goes_to_the_address_the_guard_checked() -> None:
    """Only 127.0.0.1 is allowed; the name's answer lists a refused loopback address
    first, where a decoy listens on the same port. The request reaches 127.0.0.1 under the
    name's Host header, and the decoy sees nothing."""
    policy = AddressPolicy.build(False, ["127.0.0.1/32"], allow_loopback=False)
    resolver = Answers(["127.0.0.9", "127.0.0.1"])
    s = Sender(SenderConfig(policy=policy), resolver=resolver)
    await s.open()

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    try:
        async with RawServer(ok) as server:
            async with RawServer(ok, host="127.0.0.9", port=server.port) as decoy:
                outcome = await send(s, server.url(host="hooks.rebind.invalid"))
    finally:
        await s.close()
    assert outcome.status == 200, outcome.body
    assert [seen.header("host") for seen in server.seen] == [f"hooks.rebind.invalid:{server.port}"]
    assert decoy.connections == 0
    assert resolver.lookups == ["hooks.rebind.invalid"]


async def test_a_name_resolving_only_to_refused_addresses_is_blocked() -> None:
    policy = AddressPolicy.build(False, ["127.0.0.1/32"], allow_loopback=False)
    s = Sender(SenderConfig(policy=policy), resolver=Answers(["127.0.0.2", "127.0.0.3"]))
    await s.open()

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    try:
        async with RawServer(ok) as server:
            outcome = await send(s, server.url(host="hooks.rebind.invalid"))
    finally:
        await s.close()
    assert outcome.error_kind is ErrorKind.BLOCKED and server.seen == []


async def test_a_header_that_would_split_the_request_is_refused_unsent(sender: Sender) -> None:
    """The API refuses such values when they are written; the sender does not trust that."""

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    async with RawServer(ok) as server:
        bad = task(server.url())
        bad.headers = {"x-note": "a\r\nx-injected: yes"}
        outcome = await asyncio.wait_for(sender.send(bad), BOUND)
    assert outcome.error_kind is ErrorKind.CONNECTION_ERROR and server.seen == []
