"""The live tail's event stream over a real socket, served by uvicorn with the API's own
HTTP protocol class: new attempts in order, a reconnect with ``Last-Event-ID`` that
resumes without a gap, a session that ends the stream, and a shutdown that does not wait
for an open stream."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from msgs_kit import (
    build_app,
    new_app,
    new_endpoint,
    publish,
    running_worker,
    session,
    settled,
    store,
    until,
)

from hookline.access import token_hash
from hookline.api.http_server import HttpLimits, protocol_class
from hookline.store.base import Store
from hookline.testing import Receiver
from hookline.ui.session import OPERATOR_COOKIE

__all__ = ["store"]
GRACE_S = 8.0  # uvicorn's graceful-shutdown limit in these tests


@dataclass
class Served:
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Served]:
    """uvicorn on a loopback socket, configured as ``runtime`` configures the API's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        loop="none",
        http=protocol_class(HttpLimits()),
        ws="none",
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=GRACE_S,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: _started(server))
    try:
        yield Served(server, task, f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server) -> bool:
    return server.started


async def events(
    lines: AsyncIterator[str], count: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The next ``count`` events of a stream (comments and ``retry`` lines skipped)."""
    out: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(timeout):
        async for line in lines:
            if line == "":
                if "data" in fields:
                    out.append(
                        {"event": fields.get("event"), "id": fields.get("id"), **_data(fields)}
                    )
                    if len(out) == count:
                        return out
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
    return out


def _data(fields: dict[str, str]) -> dict[str, Any]:
    try:
        parsed = json.loads(fields["data"])
    except json.JSONDecodeError:
        return {"data": fields["data"]}
    return parsed if isinstance(parsed, dict) else {"data": parsed}


def browser(served: Served, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=served.url, cookies={OPERATOR_COOKIE: token}, timeout=httpx.Timeout(20.0)
    )


async def test_the_stream_sends_new_attempts_in_order_and_resumes_without_a_gap(
    store: Store,
) -> None:
    acme, other = await new_app(store, "acme"), await new_app(store, "other")
    app = build_app(store, live_poll_s=0.05, live_heartbeat_s=0.5)
    async with Receiver() as receiver, running_worker(store), serving(app) as served:
        ep = await new_endpoint(store, acme.id, receiver.url("/a"))
        await new_endpoint(store, other.id, receiver.url("/b"))

        async def deliver(n: int, app_id: str = acme.id) -> None:
            msgs = [await publish(store, app_id, "tick", b"{}") for _ in range(n)]
            for msg in msgs:
                await until(lambda m=msg: settled(store, m))

        await deliver(3)  # before the page opens: the backlog
        token = await session(store)
        seen: list[dict[str, Any]] = []
        async with browser(served, token) as ui:
            async with ui.stream("GET", "/ui/live/stream") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                seen += await events(lines, 3)
                await deliver(4)
                seen += await events(lines, 2)
            # gone; more attempts happen, then the browser reconnects from its last id
            await deliver(2)
            resume = {"Last-Event-ID": seen[-1]["id"]}
            async with ui.stream("GET", "/ui/live/stream", headers=resume) as stream:
                lines = stream.aiter_lines()
                seen += await events(lines, 4)
                await deliver(1, other.id)  # another application's attempt, for the filter
                seen += await events(lines, 1)
            # an application's tail leaves the others' attempts out
            async with ui.stream("GET", f"/ui/live/stream?app={other.id}") as stream:
                only = await events(stream.aiter_lines(), 1)
        everything = await store.attempts_after(None, 100)
        assert [e["id"] for e in seen] == [a.id for a in everything]
        assert len({e["id"] for e in seen}) == 10
        first = seen[0]
        assert first["event"] == "attempt" and first["app_id"] == acme.id
        assert first["endpoint_id"] == ep.id and first["event_type"] == "tick"
        assert first["status"] == "success" and first["link"].startswith(f"/ui/app/{acme.id}/msg/")
        assert [e["app_id"] for e in only] == [other.id]
        # a closed stream leaves nothing running on the server
        await until(lambda: _idle(served.server))


async def _idle(server: uvicorn.Server) -> bool:
    return not server.server_state.tasks


async def test_a_stream_ends_with_the_session(store: Store) -> None:
    app = build_app(store, live_poll_s=0.05, live_heartbeat_s=0.2)
    async with serving(app) as served:
        token = await session(store)
        async with browser(served, token) as ui, ui.stream("GET", "/ui/live/stream") as stream:
            await asyncio.sleep(0.3)
            await store.delete_access_token(token_hash(token))  # signed out elsewhere
            lines = stream.aiter_lines()
            [end] = await events(lines, 1)
            assert end["event"] == "end"
            rest = [line async for line in lines]  # and the stream closes
            assert all(line == "" or line.startswith(":") for line in rest)
        async with browser(served, token) as ui:
            again = await ui.get("/ui/live/stream")
            assert again.status_code == 303  # to the sign-in page
        async with browser(served, await session(store)) as ui:
            bad = await ui.get("/ui/live/stream", headers={"Last-Event-ID": "'; drop"})
            assert bad.status_code == 400


async def test_shutdown_does_not_wait_for_an_open_stream(store: Store) -> None:
    app = build_app(store, live_poll_s=0.05, live_heartbeat_s=0.2)
    async with serving(app) as served:
        async with browser(served, await session(store)) as ui:
            async with ui.stream("GET", "/ui/live/stream") as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry:")
                started = time.monotonic()
                served.server.should_exit = True
                await asyncio.wait_for(asyncio.shield(served.task), GRACE_S * 2)
                took = time.monotonic() - started
                try:
                    async for _ in lines:
                        pass
                except httpx.RemoteProtocolError:
                    pass  # cut mid-stream: the browser's EventSource reconnects
    # well inside the grace period a stuck stream would have used up
    assert took < GRACE_S / 4, took


async def test_the_live_page_points_its_script_at_the_stream(store: Store) -> None:
    acme = await new_app(store, "acme")
    transport = httpx.ASGITransport(app=build_app(store))
    cookies = {OPERATOR_COOKIE: await session(store)}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", cookies=cookies) as ui:
        page = await ui.get("/ui/live", params={"app": acme.id})
        assert page.status_code == 200
        data = re.search(
            r'<script type="application/json" id="live-data">(.*?)</script>', page.text
        )
        assert data is not None
        assert json.loads(data.group(1)) == {"stream": f"/ui/live/stream?app={acme.id}"}
        assert 'id="live-toggle"' in page.text and "/static/live.js" in page.text
        assert (await ui.get("/ui/live", params={"app": "app_nosuch"})).status_code == 404
