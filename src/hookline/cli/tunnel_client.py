"""The listener's side of the tunnel: find or make the endpoint, then hold the socket.

It speaks to the server over HTTP and one WebSocket only, as a remote user's machine
would. Each delivery frame is POSTed to the local target as it came (the server's
signed headers, the exact body) and the target's answer goes back as a result frame.
A dropped socket is reconnected with capped exponential backoff and jitter; a refusal
the server explains (bad credential, no such endpoint) ends the command instead.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import click
import orjson

from hookline.errors import SignatureError
from hookline.signing import Webhook

TUNNEL_URL = "tunnel://"
MAX_BODY = 64 * 1024  # of the local answer, sent back (the server keeps less)
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.5, 30.0
HEARTBEAT_S = 20.0
# Forwarded as the server signed them; the client library sets these itself.
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}


class ListenError(click.ClickException):
    """A refusal to report and stop on (retrying would not help)."""


@dataclass
class Attachment:
    app_id: str
    endpoint_id: str
    secret: str | None
    ingest_url: str | None = None


class Api:
    """The few REST calls ``listen`` needs; any unexpected answer is a ``ListenError``."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.http, self.base = http, base_url.rstrip("/")
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kw: Any
    ) -> Any:
        async with self.http.request(method, self.base + path, headers=self.auth, **kw) as resp:
            text = await resp.text()
            if resp.status == 404 and 404 not in ok:
                return None
            if resp.status not in ok:
                raise ListenError(f"{method} {path}: {resp.status} {text[:300]}")
            return orjson.loads(text) if text else None


def default_name() -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-")[:60] or "local"


async def attach(
    api: Api,
    app: str | None,
    endpoint: str | None,
    source: str | None,
    events: list[str],
    name: str,
) -> Attachment:
    """The tunnel endpoint to attach to: given, or found or made by uid ``listen-NAME``
    in the app, the source's app, or (neither given) the app of a source made for it."""
    uid = f"listen-{name}"
    ingest_url = None
    if source is not None or app is None:
        ref = source or uid
        found = await api.call("GET", f"/ingest/api/v1/source/{quote(ref, safe='')}")
        if found is None and source is not None:
            raise ListenError(f"source {source!r} not found")
        if found is None:
            body = {"name": f"hookline listen ({name})", "uid": uid, "type": "generic-webhook"}
            found = await api.call("POST", "/ingest/api/v1/source", json=body)
        app, ingest_url = str(found["appId"]), str(found["ingestUrl"])
    app_path = f"/api/v1/app/{quote(app, safe='')}"
    filter_types = await _expand(api, events) if events else None
    if endpoint is not None:
        found = await api.call("GET", f"{app_path}/endpoint/{quote(endpoint, safe='')}")
        if found is None:
            raise ListenError(f"endpoint {endpoint!r} not found in application {app!r}")
        if found["url"] != TUNNEL_URL:
            raise ListenError(f"endpoint {endpoint!r} is not a tunnel endpoint (url tunnel://)")
    else:
        found = await api.call("GET", f"{app_path}/endpoint/{uid}")
        if found is None:
            body = {"url": TUNNEL_URL, "uid": uid, "description": f"hookline listen ({name})"}
            found = await api.call("POST", f"{app_path}/endpoint", json=body)
    if filter_types is not None:
        patch = {"filterTypes": filter_types}
        found = await api.call("PATCH", f"{app_path}/endpoint/{found['id']}", json=patch)
    secret = await api.call("GET", f"{app_path}/endpoint/{found['id']}/secret")
    key = str(secret["key"]) if secret else None
    return Attachment(str(found.get("appId") or app), str(found["id"]), key, ingest_url)


async def _expand(api: Api, events: list[str]) -> list[str]:
    """Exact names as given; ``prefix.*`` as the catalogue's event types under it now."""
    names = [e for e in events if not e.endswith("*")]
    patterns = [e[:-1] for e in events if e.endswith("*")]
    if patterns:
        catalogue: list[str] = []
        params: dict[str, Any] = {"limit": 250}
        while True:
            page = await api.call("GET", "/api/v1/event-type", params=params)
            catalogue += [str(t["name"]) for t in page["data"]]
            if page["done"] or not page.get("iterator"):
                break
            params["iterator"] = page["iterator"]
        for prefix in patterns:
            matched = [t for t in catalogue if t.startswith(prefix)]
            if not matched:
                raise ListenError(f"no event type in the catalogue matches {prefix + '*'!r}")
            names += matched
    return sorted(set(names))


class Listener:
    """Holds the socket, forwards deliveries, reconnects; ``echo`` prints its lines."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        ws_url: str,
        token: str,
        target: str,
        *,
        secret: str | None = None,
        verbose: bool = False,
        timeout: float = 10.0,
        echo: Callable[[str], None] = click.echo,
    ) -> None:
        self.http, self.ws_url, self.target = http, ws_url, target
        self.auth = {"Authorization": f"Bearer {token}"}
        self.webhook = Webhook(secret) if secret else None
        self.verbose, self.timeout, self.echo = verbose, timeout, echo
        self.forwards: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with self.http.ws_connect(
                    self.ws_url, headers=self.auth, heartbeat=HEARTBEAT_S
                ) as ws:
                    failures = 0
                    await self._serve(ws)
                reason = "the server closed the tunnel"
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403, 404, 409, 422):
                    detail = f"{exc.status} {exc.message}"
                    raise ListenError(f"the server refused the tunnel: {detail}") from None
                reason = f"handshake failed: {exc.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
            delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**failures) * random.uniform(0.5, 1.0)
            failures += 1
            self.echo(f"disconnected ({reason}); reconnecting in {delay:.1f}s")
            await asyncio.sleep(delay)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = orjson.loads(message.data)
            if frame.get("type") == "hello":
                self.echo(f"connected: forwarding to {self.target}")
            elif frame.get("type") == "delivery":
                task = asyncio.create_task(self._forward(ws, frame))
                self.forwards.add(task)
                task.add_done_callback(self.forwards.discard)

    async def _forward(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        headers = {k: v for k, v in frame["headers"].items() if k.lower() not in _HOP_HEADERS}
        body = str(frame["body"]).encode()
        result: dict[str, Any] = {"type": "result", "id": frame["id"]}
        started = time.perf_counter()
        try:
            async with self.http.post(
                self.target,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as resp:
                text = (await resp.content.read(MAX_BODY)).decode("utf-8", errors="replace")
                shown = {str(k): v for k, v in resp.headers.items()}  # istr keys to str
                result |= {"status": resp.status, "headers": shown, "body": text}
        except TimeoutError:
            result |= {"status": 0, "error": "timeout", "body": f"no answer in {self.timeout:g}s"}
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, ConnectionRefusedError)
            kind = "connection_refused" if refused else "connection_error"
            result |= {"status": 0, "error": kind, "body": f"{self.target}: {exc.os_error}"}
        except aiohttp.ClientError as exc:
            result |= {"status": 0, "error": "connection_error", "body": str(exc)}
        result["durationMs"] = int((time.perf_counter() - started) * 1000)
        self._print(frame, headers, body, result)
        try:
            await ws.send_str(orjson.dumps(result).decode())
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            # the socket closed: the server records the delivery as failed and retries it
            self.echo(f"could not answer {frame.get('msgId', '')}: {exc or type(exc).__name__}")

    def _print(
        self, frame: dict[str, Any], headers: dict[str, str], body: bytes, result: dict[str, Any]
    ) -> None:
        status = result["status"] or result.get("error", "error")
        line = (
            f"{time.strftime('%H:%M:%S')}  {frame.get('eventType', '?'):<24} {status}"
            f"  {result['durationMs']} ms  {frame.get('msgId', '')}"
        )
        if self.webhook is not None:
            try:
                self.webhook.verify(body, headers)
                line += "  signature OK"
            except SignatureError as exc:
                line += f"  signature INVALID: {exc}"
        self.echo(line)
        if self.verbose:
            shown = "\n".join(f"  {k}: {v}" for k, v in headers.items())
            self.echo(f"> request headers\n{shown}\n> body\n  {body.decode(errors='replace')}")
            self.echo(f"< response\n  {result.get('body', '')}")
