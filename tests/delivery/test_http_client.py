"""The delivery client below the worker: pooled connections, framing, caps, deadlines.

Every server here is a raw asyncio server on 127.0.0.1 scripted per request (``http_kit``).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
from engine_kit import LOOPBACK_OK
from http_kit import BOUND, CAP, RawServer, Seen, answer, send, sender, until

from hookline.delivery.http_client import HttpClient
from hookline.delivery.sender import Sender, SenderConfig
from hookline.models import ErrorKind

__all__ = ["sender"]


# ----- keep-alive connections the server closes ---------------------------------------


async def test_idle_connection_the_server_closed_is_not_used(sender: Sender) -> None:
    async def answer_then_close(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await answer(writer)
        return False  # HTTP/1.1 keep-alive answer, then the server hangs up anyway

    async with RawServer(answer_then_close) as server:
        assert (await send(sender, server.url())).status == 200
        await asyncio.sleep(0.2)  # the close reaches the client while the connection idles
        second = await send(sender, server.url())
    assert second.status == 200 and second.error_kind is None
    assert server.connections == 2 and len(server.on(0)) == 1 and len(server.on(1)) == 1


@pytest.mark.parametrize("how", ["fin", "reset"])
async def test_reused_connection_closed_before_any_answer_sends_once_more(
    sender: Sender, how: str
) -> None:
    async def drop_second_request(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.connection == 0 and seen.index == 1:
            if how == "reset":  # SO_LINGER 0: the close is a TCP RST
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False  # read it, close without a byte of answer
        return await answer(writer)

    async with RawServer(drop_second_request) as server:
        assert (await send(sender, server.url())).status == 200
        second = await send(sender, server.url())
    assert second.status == 200 and second.error_kind is None
    dropped, resent = server.on(0)[1], server.on(1)[0]
    assert dropped.header("webhook-id") == resent.header("webhook-id")
    assert dropped.body == resent.body
    assert len(server.seen) == 3


async def test_reused_connection_closed_mid_answer_is_not_sent_again(sender: Sender) -> None:
    async def cut_second_answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.index == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
            await writer.drain()
            return False  # the receiver did answer, in part: a resend could double it
        return await answer(writer)

    async with RawServer(cut_second_answer) as server:
        assert (await send(sender, server.url())).status == 200
        second = await send(sender, server.url())
    assert second.error_kind is ErrorKind.INVALID_RESPONSE and second.status == 0
    assert len(server.seen) == 2


async def test_fresh_connection_closed_before_any_answer_is_not_sent_again(
    sender: Sender,
) -> None:
    async def never_answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return False

    async with RawServer(never_answer) as server:
        outcome = await send(sender, server.url())
    assert outcome.error_kind is ErrorKind.INVALID_RESPONSE and outcome.status == 0
    assert len(server.seen) == 1


# ----- bodies ----------------------------------------------------------------------------


async def test_endless_chunked_body_is_cut_at_the_cap_and_costs_its_connection(
    sender: Sender,
) -> None:
    chunk = b"0123456789abcdef" * 256  # 4 KiB

    async def endless(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(100_000):  # 400 MiB: only a client that stops reading ends this
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        return False

    async with RawServer(endless) as server:
        outcome = await send(sender, server.url())
        await until(lambda: server.closed_by_peer == [0])
    assert outcome.status == 200 and outcome.error_kind is None
    assert outcome.body.encode() == (chunk * 6)[:CAP]


async def test_chunked_body_under_the_cap_is_read_whole_and_the_connection_kept(
    sender: Sender,
) -> None:
    async def chunked(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n")
        await writer.drain()
        return True

    async with RawServer(chunked) as server:
        first = await send(sender, server.url())
        second = await send(sender, server.url())
    assert first.body == second.body == "hello world"
    assert server.connections == 1 and len(server.on(0)) == 2


@pytest.mark.parametrize(
    ("raw", "status", "body", "kind", "retry_after"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, "until the end", None, None),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n|HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
            201,
            "ok",
            None,
            None,
        ),
        (
            b"HTTP/1.1 503 X\r\nRetry-After: 7\r\ncontent-length: 4\r\n\r\nbusy",
            503,
            "busy",
            ErrorKind.HTTP_STATUS,
            "7",
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
            0,
            None,
            ErrorKind.INVALID_RESPONSE,
            None,
        ),
        (
            b"HTTP/1.1 202 A\r\ncontent-length: 1\r\n\r\na"
            b"HTTP/1.1 500 B\r\ncontent-length: 1\r\n\r\nb",
            202,
            "a",
            None,
            None,
        ),
    ],
    ids=["until-close", "interim-100", "retry-after", "truncated", "two-answers"],
)
async def test_response_framings(
    sender: Sender,
    raw: bytes,
    status: int,
    body: str | None,
    kind: ErrorKind | None,
    retry_after: str | None,
) -> None:
    async def script(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        for i, part in enumerate(raw.split(b"|")):  # "|" marks a pause between packets
            if i:
                await asyncio.sleep(0.05)
            writer.write(part)
            await writer.drain()
        return False  # then close

    async with RawServer(script) as server:
        outcome = await send(sender, server.url())
    assert (outcome.status, outcome.error_kind, outcome.retry_after) == (status, kind, retry_after)
    if body is not None:
        assert outcome.body == body


async def test_endless_answer_head_is_refused_without_waiting_for_the_timeout(
    sender: Sender,
) -> None:
    async def endless_header(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nx-endless: ")
        for _ in range(100_000):  # 400 MiB of one header value
            writer.write(b"a" * 4096)
            await writer.drain()
        return False

    async with RawServer(endless_header) as server:
        outcome = await send(sender, server.url())
        await until(lambda: server.closed_by_peer == [0])
    assert outcome.error_kind is ErrorKind.INVALID_RESPONSE and "head" in outcome.body


# ----- deadlines -------------------------------------------------------------------------


async def test_slow_loris_answer_hits_the_total_timeout() -> None:
    """The head itself trickles in, a byte at a time, for ever: only the request's total
    timeout ends it, and the connection is closed."""
    timeout = 0.5
    s = Sender(SenderConfig(request_timeout=timeout, connect_timeout=timeout, policy=LOOPBACK_OK))
    await s.open()

    async def trickle(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        for byte in b"HTTP/1.1 200 OK\r\nx-slow: " + b"z" * 10_000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    try:
        async with RawServer(trickle) as server:
            outcome = await send(s, server.url())
            await until(lambda: server.closed_by_peer == [0])
    finally:
        await s.close()
    assert outcome.error_kind is ErrorKind.TIMEOUT and outcome.status == 0
    assert outcome.duration_ms >= timeout * 1000 * 0.8


async def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    client = HttpClient(LOOPBACK_OK, None, connect_timeout=5, max_body=CAP, idle_timeout=0.2)

    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    try:
        async with RawServer(ok) as server:
            target = client.target(server.url())
            data = target.head + b"content-length: 0\r\n\r\n"
            response = await asyncio.wait_for(client.post(target, data, 5), BOUND)
            assert response.status == 200
            await until(lambda: server.closed_by_peer == [0])
    finally:
        await client.close()


# ----- the request itself -------------------------------------------------------


async def test_request_line_host_and_no_extras(sender: Sender) -> None:
    async def ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return await answer(writer)

    async with RawServer(ok) as server:
        outcome = await send(sender, server.url("/p/a%20th?q=1&r=a%26b#frag"))
    [seen] = server.seen
    assert outcome.status == 200
    assert seen.head.startswith(b"POST /p/a%20th?q=1&r=a%26b HTTP/1.1\r\n")
    assert seen.header("host") == f"127.0.0.1:{server.port}"
    assert seen.header("content-length") == str(len(seen.body)) and seen.body == b'{"a":1}'
    assert seen.header("accept-encoding") is None and seen.header("cookie") is None


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_literal_host_header(sender: Sender) -> None:
    seen_host: list[str | None] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen_host.append(Seen(0, 0, head, b"").header("host"))
        await answer(writer)
        writer.close()

    server = await asyncio.start_server(handle, "::1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await send(sender, f"http://[::1]:{port}/v6")
    finally:
        server.close()
        await server.wait_closed()
    assert outcome.status == 200 and seen_host == [f"[::1]:{port}"]
