"""Sends one signed delivery over a shared keep-alive aiohttp session.

The payload bytes go out exactly as stored at publish time; only the signature
headers are computed here. Every failure becomes an ``Outcome`` with an error kind:
nothing a receiver does can raise out of ``send``.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from hookline.addresses import AddressPolicy, literal_addresses
from hookline.delivery.ssrf import BlockedAddress, GuardedResolver
from hookline.models import NOT_FORWARDED, SET_BY_HOOKLINE, DeliveryTask, ErrorKind
from hookline.signing import Secret, parse_secret, sign

USER_AGENT = "hookline/0.1 (+https://github.com/hookline)"


@dataclass(slots=True)
class Outcome:
    status: int  # 0 when no HTTP response was received
    body: str
    duration_ms: int
    error_kind: ErrorKind | None
    retry_after: str | None = None
    started_at_ms: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(slots=True, frozen=True)
class SenderConfig:
    request_timeout: float = 15.0
    connect_timeout: float = 5.0
    max_response_body: int = 20 * 1024
    send_svix_headers: bool = True
    policy: AddressPolicy = field(default_factory=AddressPolicy)


@lru_cache(maxsize=4096)
def _secrets(keys: tuple[str, ...]) -> tuple[Secret, ...]:
    return tuple(parse_secret(k) for k in keys)


class Sender:
    def __init__(self, config: SenderConfig, resolver: AbstractResolver | None = None) -> None:
        """``resolver`` replaces the system resolver underneath the SSRF guard."""
        self._config = config
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._targets: dict[str, tuple[URL, bool]] = {}

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            ttl_dns_cache=30,
            resolver=GuardedResolver(self._config.policy, self._resolver),
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self._config.request_timeout, connect=self._config.connect_timeout
            ),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def signed_headers(self, task: DeliveryTask, timestamp: int) -> dict[str, str]:
        signature = sign(task.msg_id, timestamp, task.payload, _secrets(task.signing_keys))
        headers = {k: v for k, v in task.headers.items() if k.lower() not in SET_BY_HOOKLINE}
        if task.forward_headers and task.original_headers:
            headers = _with_forwarded(headers, task.forward_headers, task.original_headers)
        headers.update(
            {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": task.msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature,
            }
        )
        if self._config.send_svix_headers:
            headers["svix-id"] = task.msg_id
            headers["svix-timestamp"] = str(timestamp)
            headers["svix-signature"] = signature
        return headers

    async def send(self, task: DeliveryTask) -> Outcome:
        session = self._session
        assert session is not None, "sender is not open"
        started_wall = time.time()
        started = time.perf_counter()

        def done(
            status: int, body: str, kind: ErrorKind | None, retry: str | None = None
        ) -> Outcome:
            elapsed = int((time.perf_counter() - started) * 1000)
            if status == 0 and "@" in task.url:  # our own error text may quote the URL
                body = _without_userinfo(body, task.url)
            return Outcome(status, body, elapsed, kind, retry, int(started_wall * 1000))

        try:
            url, allowed = self._target(task.url)
            if not allowed:
                return done(0, "destination address refused by the SSRF guard", ErrorKind.BLOCKED)
            headers = self.signed_headers(task, int(started_wall))
            async with session.post(
                url, data=task.payload, headers=headers, allow_redirects=False
            ) as resp:
                body = await _read_capped(resp, self._config.max_response_body)
                return done(
                    resp.status, body, _status_kind(resp.status), resp.headers.get("retry-after")
                )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return done(0, "timed out", ErrorKind.TIMEOUT)
        except aiohttp.ClientConnectorCertificateError as exc:
            return done(0, str(exc), ErrorKind.TLS)
        except aiohttp.ClientSSLError as exc:
            return done(0, str(exc), ErrorKind.TLS)
        except aiohttp.ClientConnectorError as exc:
            return done(0, str(exc), _connect_kind(exc.os_error))
        except aiohttp.ClientResponseError as exc:
            return done(0, f"invalid response: {exc.message}", ErrorKind.INVALID_RESPONSE)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            return done(0, f"invalid response: {exc}", ErrorKind.INVALID_RESPONSE)
        except (aiohttp.InvalidURL, ValueError) as exc:
            return done(0, f"invalid url: {exc}", ErrorKind.CONNECTION_ERROR)
        except ssl.SSLError as exc:
            return done(0, str(exc), ErrorKind.TLS)
        except (aiohttp.ClientError, OSError) as exc:
            return done(0, str(exc) or type(exc).__name__, ErrorKind.CONNECTION_ERROR)

    def _target(self, url: str) -> tuple[URL, bool]:
        """The parsed URL and the guard's verdict on a numeric host, cached per URL:
        both are pure functions of the string, and parsing them per send is measurable."""
        found = self._targets.get(url)
        if found is None:
            if len(self._targets) >= 10_000:
                self._targets.clear()
            parsed = URL(url)
            found = self._targets[url] = (parsed, self._literal_host_allowed(parsed.host))
        return found

    def _literal_host_allowed(self, host: str | None) -> bool:
        """aiohttp skips the resolver for hosts that look numeric, so check them here."""
        if host is None:
            return False
        policy = self._config.policy
        if not policy.enabled:
            return True
        if _looks_numeric(host) and not literal_addresses(host):
            return False  # aiohttp would connect without asking the resolver
        return not policy.refuses_literal(host)


def _with_forwarded(
    custom: dict[str, str], names: tuple[str, ...], original: Mapping[str, str]
) -> dict[str, str]:
    """The named original headers, then the endpoint's custom headers, which win over a
    forwarded header of the same name (compared case-insensitively, so only one goes)."""
    received = {k.lower(): v for k, v in original.items()}
    taken = {k.lower() for k in custom}
    forwarded = {
        name: received[name]
        for name in names
        if name in received and name not in taken and name not in NOT_FORWARDED
    }
    return {**forwarded, **custom}


_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@")


def _without_userinfo(text: str, url: str) -> str:
    """Error texts are shown by the API's attempt log, and credentials in an endpoint URL
    are never shown: mask them as the API masks the URL itself."""
    found = _USERINFO.match(url)
    if found is None:
        return text
    userinfo = found.group(1)
    for spelling in {userinfo, unquote(userinfo)}:
        text = text.replace(spelling + "@", "***@")
    return text


def _looks_numeric(host: str) -> bool:
    return ":" in host or host.replace(".", "").isdigit() or host.lower().startswith("0x")


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> str:
    """Keep at most ``limit`` bytes; an oversized body costs its connection, not memory."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if not resp.content.at_eof():
        resp.close()
    return b"".join(chunks).decode("utf-8", errors="replace")


def _status_kind(status: int) -> ErrorKind | None:
    return None if 200 <= status < 300 else ErrorKind.HTTP_STATUS


def _connect_kind(error: OSError) -> ErrorKind:
    if isinstance(error, BlockedAddress):
        return ErrorKind.BLOCKED
    if isinstance(error, socket.gaierror):
        return ErrorKind.DNS
    if isinstance(error, ConnectionRefusedError):
        return ErrorKind.CONNECTION_REFUSED
    if isinstance(error, asyncio.TimeoutError):
        return ErrorKind.TIMEOUT
    return ErrorKind.CONNECTION_ERROR
