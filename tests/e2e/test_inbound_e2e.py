"""Receiving through the real ``hookline serve``: a GitHub push reaches every subscribed
endpoint signed by hookline and runs an action, a forgery reaches nobody, and a SIGKILL
after the 2xx loses nothing.

GitHub publishes no signer; its documented scheme (HMAC-SHA256 of the body, hex, with a
``sha256=`` prefix) is computed here with ``hmac``. Deliveries are checked with the
``standardwebhooks`` library.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sqlite3
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

pytestmark = pytest.mark.e2e

SECRET = "It's a Secret to Everybody"
ACTION_SCRIPT = Path(__file__).parents[1] / "delivery" / "action_script.py"


def github(
    body: Any, secret: str = SECRET, delivery: str | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256="
        + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest(),
    }
    return raw, headers


async def make_source(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/ingest/api/v1/source",
        json={"name": "github", "type": "github", "config": {"secret": SECRET}},
    )
    assert response.status_code == 201, response.text
    source: dict[str, Any] = response.json()
    return source


async def add_endpoint(client: httpx.AsyncClient, source_id: str, url: str, **fields: Any) -> str:
    base = f"/ingest/api/v1/source/{source_id}/endpoint"
    created = await client.post(base, json={"url": url, **fields})
    assert created.status_code == 201, created.text
    secret = await client.get(f"{base}/{created.json()['id']}/secret")
    return str(secret.json()["key"])


def admin(server: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, headers=server.auth, timeout=30.0)


async def test_a_github_push_reaches_two_endpoints_and_an_action_and_a_forgery_nobody(
    start_server, receiver, tmp_path: Path
) -> None:
    actions_file = tmp_path / "actions.toml"
    actions_file.write_text(
        f"""
[actions.deploy]
command = ["{sys.executable}", "{ACTION_SCRIPT}", "echo"]
args = ["--ref", {{ jmespath = "payload.ref" }}, {{ jmespath = 'headers."x-github-event"' }}]
timeout = "2s"
"""
    )
    env = {"HOOKLINE_ACTIONS_FILE": str(actions_file)}
    server = await asyncio.to_thread(start_server, None, env)
    async with admin(server) as client, httpx.AsyncClient(timeout=30.0) as github_side:
        source = await make_source(client)
        secrets = {
            path: await add_endpoint(
                client,
                source["id"],
                receiver.url(path),
                filterTypes=["push"],
                forwardHeaders=["X-GitHub-Delivery"],
            )
            for path in ("/ci", "/chat")
        }
        await add_endpoint(client, source["id"], "action://deploy", filterTypes=["push"])
        body, headers = github({"ref": "refs/heads/main", "commits": [{"id": "abc"}]})
        forged_body, forged = github({"ref": "refs/heads/evil"}, secret="guessed")
        rejected = await github_side.post(source["ingestUrl"], content=forged_body, headers=forged)
        assert rejected.status_code == 401
        accepted = await github_side.post(source["ingestUrl"], content=body, headers=headers)
        assert accepted.status_code == 200, accepted.text

        for path in secrets:
            await receiver.wait_for(1, path)
        log = await client.get(f"/ingest/api/v1/source/{source['id']}/request")
        assert log.status_code == 200, log.text
        by_verdict = {r["verdict"]: r for r in log.json()["data"]}
        assert by_verdict["rejected"]["reason"] == "bad_signature"
        assert by_verdict["rejected"].get("msgId") is None
        msg_id = by_verdict["accepted"]["msgId"]
        assert msg_id

        attempts_url = f"/api/v1/app/{source['appId']}/attempt/msg/{msg_id}"
        attempts: list[dict[str, Any]] = []
        for _ in range(200):
            attempts = (await client.get(attempts_url)).json()["data"]
            if len(attempts) == 3:
                break
            await asyncio.sleep(0.1)
        [action] = [a for a in attempts if a["url"] == "action://deploy"]
        assert (action["status"], action["responseStatusCode"]) == (0, 200)
        head, _, stdout, *_ = str(action["response"]).split("\n")
        assert head == "exit status 0"
        assert json.loads(stdout)["argv"] == ["--ref", "refs/heads/main", "push"]

        # every message the source's application holds: the push alone, not the forgery
        messages = (await client.get(f"/api/v1/app/{source['appId']}/msg")).json()["data"]
        assert [m["id"] for m in messages] == [msg_id]
        for path, secret in secrets.items():
            [delivered] = receiver.requests(path)
            assert delivered.body == body
            assert delivered.headers["x-github-delivery"] == headers["X-GitHub-Delivery"]
            verified = Webhook(secret).verify(delivered.body, dict(delivered.headers))
            assert verified == orjson.loads(body)


async def test_sigkill_after_the_2xx_loses_no_request(start_server, receiver) -> None:
    """Routing is held back (the source's messages cannot be stored, as if that part of the
    database were failing), so every request answered 2xx is still unrouted at the kill;
    the restarted server routes and delivers each of them once."""
    server = await asyncio.to_thread(start_server)
    async with admin(server) as client:
        source = await make_source(client)
        await add_endpoint(client, source["id"], receiver.url("/ci"))
    db = server.data_dir / "hookline.db"
    _sql(db, "CREATE TRIGGER hold BEFORE INSERT ON message BEGIN SELECT RAISE(ABORT, 'held'); END")
    answered: set[int] = set()
    in_doubt: set[int] = set()
    limit = asyncio.Semaphore(8)

    async def send(n: int, client: httpx.AsyncClient) -> None:
        body, headers = github({"n": n}, delivery=f"d-{n}")
        async with limit:
            try:
                response = await client.post(source["ingestUrl"], content=body, headers=headers)
            except httpx.TransportError:
                in_doubt.add(n)
                return
        if response.status_code == 200:
            answered.add(n)

    async with httpx.AsyncClient(timeout=30.0) as github_side:
        await asyncio.gather(*(send(n, github_side) for n in range(40)))
        assert len(answered) == 40
        late = [asyncio.create_task(send(n, github_side)) for n in range(40, 60)]
        while len(answered) < 45 and not all(t.done() for t in late):
            await asyncio.sleep(0.005)
        server.kill()  # right after a 2xx, with more requests on the wire
        await asyncio.gather(*late)
    unrouted = _count(
        db, "SELECT count(*) FROM inbound_request WHERE routed_at IS NULL AND verdict = 'accepted'"
    )
    assert unrouted >= len(answered)
    assert receiver.requests("/ci") == []
    _sql(db, "DROP TRIGGER hold")

    await asyncio.to_thread(start_server, server.data_dir)
    await receiver.wait_until(
        lambda: {r.json()["n"] for r in receiver.requests("/ci")} >= answered, timeout=30
    )
    await asyncio.sleep(0.5)
    received = [r.json()["n"] for r in receiver.requests("/ci")]
    assert len(received) == len(set(received)), "a request was routed twice"
    assert set(received) <= answered | in_doubt


def _sql(db: Any, statement: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(statement)
    finally:
        conn.close()


def _count(db: Any, query: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(query).fetchone()[0])
    finally:
        conn.close()
