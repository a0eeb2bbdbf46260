"""The tunnel socket in-process, spoken to frame by frame (SQLite and PostgreSQL).

Who may attach (refused in the handshake, with the API's JSON error), and what the session
records for the answers a listener gives: an unreachable local target is a failed attempt
that says so, and a socket that drops with a delivery unanswered records it as failed and
sends it again on the next attach, where an answer completes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
import uvicorn
from api_helpers import TOKEN, make_settings
from live_server import serving
from portal_helpers import bearer, portal_access

from hookline import ids, runtime
from hookline.api import ApiContext, create_app
from hookline.cli.tunnel_client import BACKOFF_BASE_S, Listener
from hookline.models import Application, Endpoint
from hookline.store.base import Store

TUNNEL = "tunnel://"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


@pytest.fixture
async def base(store: Store, tmp_path: Path) -> AsyncIterator[str]:
    settings = make_settings(tmp_path).model_copy(
        update={"retry_schedule": (0.1, 0.1), "retry_jitter": 0.0, "poll_interval": 0.1}
    )
    async with serving(store, tunnels=runtime.tunnels(settings, store, dev=True)) as url:
        yield url


async def setup(base: str, url: str = TUNNEL) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, headers=bearer(TOKEN)) as client:
        app = (await client.post("/api/v1/app", json={"name": "t"})).json()["id"]
        made = await client.post(f"/api/v1/app/{app}/endpoint", json={"url": url})
        assert made.status_code == 201, made.text
        return app, made.json()["id"]


async def publish(base: str, app: str, n: int) -> str:
    async with httpx.AsyncClient(base_url=base, headers=bearer(TOKEN)) as client:
        body = {"eventType": "e", "payload": {"n": n}}
        sent = await client.post(f"/api/v1/app/{app}/msg", json=body)
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])


async def attempts(base: str, app: str, endpoint: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, headers=bearer(TOKEN)) as client:
        page = await client.get(f"/api/v1/app/{app}/attempt/endpoint/{endpoint}")
        return list(reversed(page.json()["data"]))  # oldest first


async def until(check: Any, timeout: float = 20.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await check()):
            await asyncio.sleep(0.05)
        return found


async def frame(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        got: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.receive_str(), 20))
        if got["type"] == kind:
            return got


def socket_url(base: str, app: str, endpoint: str) -> str:
    return f"{base.replace('http', 'ws', 1)}/api/v1/app/{app}/endpoint/{endpoint}/tunnel"


async def test_only_a_tunnel_endpoint_and_a_credential_of_its_application_attach(
    base: str,
) -> None:
    app, endpoint = await setup(base)
    other_app, http_endpoint = await setup(base, "https://example.com/hook")
    async with httpx.AsyncClient(base_url=base, headers=bearer(TOKEN)) as client:
        portal = (await portal_access(client, app))["token"]
    cases = [
        (app, http_endpoint, TOKEN, 404),  # the endpoint is not this application's
        (other_app, http_endpoint, TOKEN, 409),  # not a tunnel endpoint
        (app, endpoint, portal, 403),  # a consumer-portal token opens no tunnel
        (app, endpoint, "wrong", 401),
        (app, "ep_missing", TOKEN, 404),
    ]
    async with aiohttp.ClientSession() as http:
        for app_id, ep, token, status in cases:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(socket_url(base, app_id, ep), headers=bearer(token))
            assert refused.value.status == status, (app_id, ep, token)
        async with http.ws_connect(socket_url(base, app, endpoint), headers=bearer(TOKEN)) as ws:
            assert (await frame(ws, "hello"))["endpointId"] == endpoint


async def test_an_unreachable_target_and_a_dropped_socket_are_failed_attempts(
    base: str,
) -> None:
    app, endpoint = await setup(base)
    url = socket_url(base, app, endpoint)
    msg = await publish(base, app, 1)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, headers=bearer(TOKEN)) as ws:
            first = await frame(ws, "delivery")
            assert first["msgId"] == msg and first["attempt"] == 1
            refused = {"type": "result", "id": first["id"], "status": 0}
            refused |= {"error": "connection_refused", "body": "nothing on :3000", "durationMs": 1}
            await ws.send_str(orjson.dumps(refused).decode())
            second = await frame(ws, "delivery")  # the retry, per schedule
            assert second["msgId"] == msg and second["attempt"] == 2
        # closed with the retry unanswered: recorded as failed, and retried again
        log = await until(lambda: _has(base, app, endpoint, 2))
        assert [(a["errorKind"], a["status"]) for a in log] == [
            ("connection_refused", 2),
            ("connection_error", 2),
        ]
        assert log[0]["response"] == "nothing on :3000"
        assert "disconnected" in log[1]["response"]
        async with http.ws_connect(url, headers=bearer(TOKEN)) as ws:
            third = await frame(ws, "delivery")
            assert third["msgId"] == msg and third["attempt"] == 3
            ok = {"type": "result", "id": third["id"], "status": 201, "body": "done"}
            ok |= {"headers": {"x-local": "yes"}, "durationMs": 7}
            await ws.send_str(orjson.dumps(ok).decode())
            log = await until(lambda: _has(base, app, endpoint, 3))
    assert (log[2]["status"], log[2]["responseStatusCode"], log[2]["response"]) == (0, 201, "done")
    assert log[2]["responseDurationMs"] == 7


async def _has(base: str, app: str, endpoint: str, n: int) -> list[dict[str, Any]] | None:
    found = await attempts(base, app, endpoint)
    return found if len(found) >= n else None


async def test_the_listener_reconnects_with_growing_capped_delays(
    store: Store, tmp_path: Path
) -> None:
    """Refused while the server is down, it retries after delays that double (with jitter)
    and attaches once the server is up."""
    settings = make_settings(tmp_path).model_copy(update={"poll_interval": 0.1})
    t = int(time.time() * 1000)
    app = await store.create_application(
        Application(id=ids.new_id("app"), name="r", created_at=t, updated_at=t)
    )
    ep = Endpoint(ids.new_id("ep"), app.id, TUNNEL, "whsec_" + "A" * 32, created_at=t, updated_at=t)
    await store.create_endpoint(ep)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening yet: connections are refused
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    lines: list[str] = []
    async with aiohttp.ClientSession() as http:
        listener = Listener(
            http, socket_url(base, app.id, ep.id), TOKEN, "http://127.0.0.1:9/", echo=lines.append
        )
        running = asyncio.create_task(listener.run())
        try:
            await until(lambda: _lines(lines, "reconnecting", 3))
            delays = [float(line.rsplit(" ", 1)[1].rstrip("s")) for line in lines[:3]]
            for n, delay in enumerate(delays):  # base 0.5 s doubling, times jitter in [0.5, 1]
                assert BACKOFF_BASE_S * 2**n * 0.5 - 0.05 <= delay <= BACKOFF_BASE_S * 2**n + 0.05
            context = ApiContext(store=store, admin_token=TOKEN, public_url=base)
            context.tunnels = runtime.tunnels(settings, store, dev=True)
            server = _Server(uvicorn.Config(create_app(context), lifespan="off", log_level="error"))
            serving_task = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                await until(lambda: _lines(lines, "connected: forwarding", 1), timeout=30)
            finally:
                running.cancel()
                server.should_exit = True
                await serving_task
        finally:
            running.cancel()
            sock.close()


async def _lines(lines: list[str], text: str, n: int) -> bool:
    return sum(text in line for line in lines) >= n
