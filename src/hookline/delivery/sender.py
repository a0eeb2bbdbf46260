"""Sends one signed delivery over a pooled keep-alive connection (``http_client``).

The payload bytes go out exactly as stored at publish time; only the signature
headers are computed here, written straight into the request head. Every failure
becomes an ``Outcome`` with an error kind: nothing a receiver does can raise out of ``send``.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote

from aiohttp.abc import AbstractResolver

from hookline.addresses import AddressPolicy
from hookline.delivery.http_client import HttpClient, Target
from hookline.delivery.http_protocol import SendError
from hookline.models import (
    MASKED,
    NOT_FORWARDED,
    SET_BY_HOOKLINE,
    DeliveryTask,
    ErrorKind,
    is_secret_header,
)
from hookline.signing import Secret, parse_secret, sign

USER_AGENT = "hookline/0.1 (+https://github.com/hookline)"
_UNSAFE = re.compile(r"[\r\n\0]")


@dataclass(slots=True)
class Outcome:
    status: int  # 0 when no HTTP response was received
    body: str
    duration_ms: int
    error_kind: ErrorKind | None
    retry_after: str | None = None
    started_at_ms: int = 0
    # as sent, credentials masked; None when no request was made
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None  # as received; None without an answer

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
    def __init__(
        self,
        config: SenderConfig,
        resolver: AbstractResolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``resolver`` replaces the system resolver underneath the SSRF guard;
        ``ssl_context`` replaces the default verifying one (a test's own CA)."""
        self._config = config
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._client: HttpClient | None = None

    async def open(self) -> None:
        self._client = HttpClient(
            self._config.policy,
            self._resolver,
            connect_timeout=self._config.connect_timeout,
            max_body=self._config.max_response_body,
            ssl_context=self._ssl_context,
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def signed_headers(self, task: DeliveryTask, timestamp: int) -> dict[str, str]:
        signature = sign(task.msg_id, timestamp, task.payload, _secrets(task.signing_keys))
        headers = _custom_headers(task)
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

    def _request(
        self, task: DeliveryTask, target: Target, timestamp: int, traceparent: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The whole request: the URL's cached head, the headers as ``signed_headers``
        has them, the payload. Built as one string, with no dict in between; and beside
        it the headers as the attempt's record shows them, credentials masked."""
        signature = sign(task.msg_id, timestamp, task.payload, _secrets(task.signing_keys))
        msg_id, ts = task.msg_id, str(timestamp)
        lines = ""
        shown = {"authorization": MASKED} if target.has_auth else {}
        if task.headers or task.forward_headers:
            for name, value in _custom_headers(task).items():
                if target.has_auth and name.lower() == "authorization":
                    continue  # the URL's credentials win over a custom header
                if traceparent is not None and name.lower() == "traceparent":
                    continue  # the attempt's own trace context wins
                if _UNSAFE.search(name) or _UNSAFE.search(value):
                    raise SendError(ErrorKind.CONNECTION_ERROR, f"invalid header {name!r}")
                lines += f"{name}: {value}\r\n"
                shown[name] = MASKED if _secret(name) else value
        if traceparent is not None:  # not signed: Standard Webhooks signs no header
            lines += f"traceparent: {traceparent}\r\n"
            shown["traceparent"] = traceparent
        svix = ""
        length = str(len(task.payload))
        shown.update(
            {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": msg_id,
                "webhook-timestamp": ts,
                "webhook-signature": signature,
            }
        )
        if self._config.send_svix_headers:
            svix = f"svix-id: {msg_id}\r\nsvix-timestamp: {ts}\r\nsvix-signature: {signature}\r\n"
            shown.update({"svix-id": msg_id, "svix-timestamp": ts, "svix-signature": signature})
        shown["content-length"] = length
        head = (
            f"{lines}content-type: application/json\r\nuser-agent: {USER_AGENT}\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {ts}\r\n"
            f"webhook-signature: {signature}\r\n{svix}"
            f"content-length: {length}\r\n\r\n"
        )
        return target.head + head.encode("utf-8") + task.payload, shown

    async def send(self, task: DeliveryTask, traceparent: str | None = None) -> Outcome:
        """``traceparent`` goes out as that header (an endpoint that opted in to traces)."""
        client = self._client
        assert client is not None, "sender is not open"
        started_wall = time.time()
        started = time.perf_counter()

        sent: dict[str, str] | None = None

        def done(
            status: int,
            body: str,
            kind: ErrorKind | None,
            retry: str | None = None,
            received: dict[str, str] | None = None,
        ) -> Outcome:
            elapsed = int((time.perf_counter() - started) * 1000)
            if status == 0 and "@" in task.url:  # our own error text may quote the URL
                body = _without_userinfo(body, task.url)
            started_ms = int(started_wall * 1000)
            return Outcome(status, body, elapsed, kind, retry, started_ms, sent, received)

        try:
            target = client.target(task.url)
            if target.refused:
                return done(0, "destination address refused by the SSRF guard", ErrorKind.BLOCKED)
            data, sent = self._request(task, target, int(started_wall), traceparent)
            resp = await client.post(target, data, self._config.request_timeout)
        except SendError as exc:
            return done(0, str(exc), exc.kind)
        except ValueError as exc:
            return done(0, f"invalid url: {exc}", ErrorKind.CONNECTION_ERROR)
        except ssl.SSLError as exc:
            return done(0, str(exc), ErrorKind.TLS)
        except OSError as exc:
            return done(0, str(exc) or type(exc).__name__, ErrorKind.CONNECTION_ERROR)
        body = resp.body.decode("utf-8", errors="replace")
        kind = _status_kind(resp.status)
        return done(resp.status, body, kind, resp.retry_after, resp.headers)


@lru_cache(maxsize=1024)
def _secret(name: str) -> bool:
    return is_secret_header(name)


def _custom_headers(task: DeliveryTask) -> dict[str, str]:
    """The endpoint's own headers less the ones hookline sets, over the forwarded ones."""
    headers = {k: v for k, v in task.headers.items() if k.lower() not in SET_BY_HOOKLINE}
    if task.forward_headers and task.original_headers:
        headers = _with_forwarded(headers, task.forward_headers, task.original_headers)
    return headers


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


def _status_kind(status: int) -> ErrorKind | None:
    return None if 200 <= status < 300 else ErrorKind.HTTP_STATUS
