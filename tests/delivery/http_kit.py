"""A scriptable raw HTTP/1.1 server on 127.0.0.1 and a self-signed certificate, for the
sender's client tests: each connection's requests are recorded, and a script decides
how each one is answered (or not)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from engine_kit import LOOPBACK_OK

from hookline.delivery.sender import Outcome, Sender, SenderConfig
from hookline.models import DeliveryTask, TriggerType
from hookline.signing import generate_secret


@dataclass
class Seen:
    """One request as the server read it."""

    connection: int  # 0-based, in order of acceptance
    index: int  # 0-based, on its connection
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode()
        return None


# answer(request, writer): write the answer, or not; return False to close the connection
Script = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]


@dataclass
class RawServer:
    script: Script
    ssl_context: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free one
    seen: list[Seen] = field(default_factory=list)
    closed_by_peer: list[int] = field(default_factory=list)  # connections the client ended
    _connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "/hook", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def on(self, connection: int) -> list[Seen]:
        return [s for s in self.seen if s.connection == connection]

    @property
    def connections(self) -> int:
        return self._connections

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        number = self._connections
        self._connections += 1
        try:
            for index in range(1_000_000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_peer.append(number)
                    return
                seen = Seen(number, index, head, b"")
                length = seen.header("content-length")
                seen.body = await reader.readexactly(int(length or 0))
                self.seen.append(seen)
                if not await self.script(seen, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            self.closed_by_peer.append(number)
        except asyncio.CancelledError:
            pass  # the server is stopping: end quietly
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def answer(writer: asyncio.StreamWriter, status: int = 200, body: bytes = b"ok") -> bool:
    writer.write(b"HTTP/1.1 %d X\r\ncontent-length: %d\r\n\r\n%s" % (status, len(body), body))
    await writer.drain()
    return True


def task(url: str, payload: bytes = b'{"a":1}') -> DeliveryTask:
    return DeliveryTask(
        delivery_id="dlv_1",
        attempts=0,
        trigger=TriggerType.SCHEDULED,
        msg_id="msg_1",
        app_id="app_1",
        event_type="a.b",
        payload=payload,
        msg_created_at=0,
        endpoint_id="ep_1",
        url=url,
        headers={},
        signing_keys=(generate_secret(),),
    )


def self_signed(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``name`` signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


CAP = 20 * 1024
BOUND = 10.0  # no test may take longer than this, whatever the client does


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    s = Sender(SenderConfig(request_timeout=5, connect_timeout=5, policy=LOOPBACK_OK))
    await s.open()
    yield s
    await s.close()


async def send(sender: Sender, url: str) -> Outcome:
    return await asyncio.wait_for(sender.send(task(url)), BOUND)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert condition(), "condition not met in time"
