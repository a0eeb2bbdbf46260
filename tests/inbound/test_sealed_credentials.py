"""Credentials that providers send, on a real server: an api-key source and a basic-auth
source each get the right and a mistyped credential. Neither ever reaches the database
file or its WAL in clear, yet the router re-verifies the accepted requests from what was
stored, and a rejected one replayed after the source takes the mistyped credential routes."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from inbound_helpers import stored_requests
from inbound_kit import TOKEN, Served, serve

from hookline.sources import Source, Verdict
from hookline.testing import Receiver


def raw_bytes(db_path: Path) -> bytes:
    """Every byte SQLite wrote: the database file, the WAL and its index."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def typo(text: str) -> str:
    """The credential with its last character mistyped."""
    return text[:-1] + ("x" if text[-1] != "x" else "y")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def post(server: Served, source: Source, headers: dict[str, str], n: int) -> int:
    body = b'{"n": %d}' % n
    headers = {"content-type": "application/json", **headers}
    response = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    return response.status_code


async def replay_and_route(server: Served, source: Source, receiver: Receiver, path: str) -> None:
    """The stored rejection, replayed through the API, becomes the second message."""
    [rejected] = [r for r in await stored_requests(server.store, source) if r.status_code == 401]
    url = f"/ingest/api/v1/source/{source.id}/request/{rejected.id}/replay"
    answer = await server.client.post(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 202, answer.text
    await receiver.wait_for(2, path)
    ids = {m.event_id for m in await server.messages(source)}
    assert f"{rejected.id}.r1" in ids


async def test_credentials_are_sealed_at_rest_and_still_verify_and_replay(
    tmp_path: Path, receiver: Receiver
) -> None:
    key = "k-" + secrets.token_hex(16)
    password = "pw-" + secrets.token_hex(16)
    bearer = "tok-" + secrets.token_hex(16)
    cookie = "ck-" + secrets.token_hex(16)
    sent = [key, typo(key), password, typo(password), bearer, cookie]
    async with serve(tmp_path) as server:
        keyed = await server.source("api-key", {"secret": key, "header": "X-Deploy-Key"})
        basic_src = await server.source(
            "basic-auth", {"credentials": [{"username": "deploy", "password": password}]}
        )
        await server.endpoint(keyed, receiver.url("/key"))
        await server.endpoint(basic_src, receiver.url("/basic"))
        extra = {"proxy-authorization": f"Bearer {bearer}", "cookie": f"session={cookie}"}
        statuses = [
            await post(server, keyed, {"x-deploy-key": key, **extra}, 1),
            await post(server, keyed, {"x-deploy-key": typo(key)}, 2),
            await post(server, basic_src, {"authorization": basic("deploy", password)}, 3),
            await post(server, basic_src, {"authorization": basic("deploy", typo(password))}, 4),
        ]
        assert statuses == [200, 401, 200, 401]
        # routed: the router verified each accepted request again from the stored row
        await receiver.wait_for(1, "/key")
        await receiver.wait_for(1, "/basic")

        keyed.config = {"secret": typo(key), "header": "x-deploy-key"}
        await server.store.update_source(keyed)
        basic_src.config = {"credentials": [{"username": "deploy", "password": typo(password)}]}
        await server.store.update_source(basic_src)
        await replay_and_route(server, keyed, receiver, "/key")
        await replay_and_route(server, basic_src, receiver, "/basic")

        log = await server.client.get(
            f"/ingest/api/v1/source/{basic_src.id}/request",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert {e["headers"]["authorization"] for e in log.json()["data"]} == {"***"}
        verdicts = {r.verdict for r in await stored_requests(server.store, basic_src)}
        assert verdicts == {Verdict.ACCEPTED}

        running = raw_bytes(server.db_path)  # the WAL is not checkpointed yet
        assert server.db_path.with_name(server.db_path.name + "-wal").stat().st_size > 0
        db_path = server.db_path
    for data in (running, raw_bytes(db_path)):
        for text in sent:
            assert text.encode() not in data
        for pw in (password, typo(password)):
            assert basic("deploy", pw).encode() not in data
