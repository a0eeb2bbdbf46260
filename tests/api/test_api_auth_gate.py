"""The token is checked before anything else: a request without it is read no further.

These run a real uvicorn server on 127.0.0.1, since what matters is what a client on
the network can make the server store; the rows are counted with a raw SQLite read.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from api_helpers import BASE, TOKEN, assert_error, make_settings

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.store.base import Store

BAD_BODIES = [b"{", b'{"name": 5}', b"[]", b""]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


@pytest.fixture
async def live(store: Store) -> AsyncIterator[str]:
    """The real app behind uvicorn on a loopback port; the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def no_commit(data_dir: Path) -> Iterator[None]:
    """Fails if anything commits meanwhile, even a row written and deleted again."""
    path = runtime.sqlite_path(make_settings(data_dir).resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        before = conn.execute("PRAGMA data_version").fetchone()[0]
        yield
        assert conn.execute("PRAGMA data_version").fetchone()[0] == before, "a commit happened"


def idempotency_rows(data_dir: Path) -> int:
    path = runtime.sqlite_path(make_settings(data_dir).resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM idempotency_key").fetchone()[0])


def all_rows(data_dir: Path) -> int:
    """Every row of every table but Alembic's own."""
    path = runtime.sqlite_path(make_settings(data_dir).resolved_database_url)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0] != "alembic_version"
        ]
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", "Bearer", "Basic " + TOKEN, TOKEN])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/app",
        "/api/v1/app/acme/msg",
        "/api/v1/app/acme/msg?with_content=1",
        "/ingest/api/v1/source",
    ],
)
@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_unauthenticated_post_with_a_key_and_a_bad_body_writes_nothing(
    live: str, tmp_path: Path, auth: str | None, path: str
) -> None:
    before = all_rows(tmp_path)
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    with no_commit(tmp_path):
        async with httpx.AsyncClient(base_url=live) as anon:
            for n, body in enumerate(BAD_BODIES):
                sent = {**headers, "Idempotency-Key": f"key-{n}"}
                resp = await anon.post(path, content=body, headers=sent)
                assert assert_error(resp, 401)["code"] == "authentication_failed"
    assert idempotency_rows(tmp_path) == 0
    assert all_rows(tmp_path) == before


@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_a_flood_of_unauthenticated_keyed_requests_stores_no_row(
    live: str, tmp_path: Path
) -> None:
    """The reported flood: 300 keyed POSTs with bad bodies and no token."""

    async def one(client: httpx.AsyncClient, n: int) -> int:
        headers = {"Idempotency-Key": f"flood-{n}", "Content-Type": "application/json"}
        resp = await client.post("/api/v1/app", content=b'{"name":', headers=headers)
        return resp.status_code

    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    with no_commit(tmp_path):
        async with httpx.AsyncClient(base_url=live, limits=limits, timeout=30) as anon:
            statuses = await asyncio.gather(*(one(anon, n) for n in range(300)))
    assert set(statuses) == {401}
    assert idempotency_rows(tmp_path) == 0


async def test_the_gate_answers_before_reading_the_body(live: str) -> None:
    """A 401 comes back while the client is still holding most of its body."""
    port = int(live.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /api/v1/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Idempotency-Key: k\r\nContent-Length: 100000\r\n\r\n{"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 401 "), head


async def test_every_api_route_is_behind_the_gate(store: Store) -> None:
    """Walks the app's own OpenAPI document, so a route added later is covered too."""
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    seen = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as anon:
        for template, operations in app.openapi()["paths"].items():
            # outside these nothing is guarded
            assert template.startswith(("/api/", "/ingest/api/")), template
            path = template.replace("{", "x").replace("}", "")
            for method in operations:
                resp = await anon.request(method, path, json={})
                if template in ("/api/v1/health", "/api/v1/health/ping"):
                    assert resp.status_code < 400, (method, path)
                else:
                    assert assert_error(resp, 401)["code"] == "authentication_failed"
                seen += 1
    assert seen > 30


async def test_docs_stay_public(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/openapi.json")).status_code == 200
    assert (await anon.get("/docs")).status_code == 200
    assert (await anon.get("/api/v1/health")).status_code == 204


@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_the_right_token_passes(live: str, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "ok-1"}
    async with httpx.AsyncClient(base_url=live, headers=headers) as client:
        resp = await client.post("/api/v1/app", json={"name": "x"})
        assert resp.status_code == 201, resp.text
        bad = await client.post("/api/v1/app", content=b"{", headers={"Idempotency-Key": "ok-2"})
        assert_error(bad, 400)
    assert idempotency_rows(tmp_path) == 2
