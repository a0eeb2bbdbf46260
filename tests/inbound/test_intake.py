"""Intake through a real server: what is answered, what is stored, what is routed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from inbound_helpers import SECRET, github_push, stored_requests
from slack_sdk.signature import SignatureVerifier
from standardwebhooks import Webhook

from hookline.sources import Verdict, token_hash
from hookline.testing import Receiver

GITHUB = {"secret": SECRET}


def assert_error(response, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["code"], str) and body["code"] and "detail" in body, body
    return dict(body)


async def test_a_verified_request_is_stored_then_answered_and_routed(server, receiver) -> None:
    source = await server.source("github", GITHUB)
    endpoint = await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push(delivery="d-1")
    response = await server.client.post(
        server.ingest_url(source) + "?x=1", content=body, headers=headers
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    [stored] = await stored_requests(server.store, source)
    assert stored.id == answer["id"]
    assert (stored.verdict, stored.status_code, stored.dedup_key) == (Verdict.ACCEPTED, 200, "d-1")
    assert stored.body == body and stored.query == "x=1" and stored.method == "POST"
    assert stored.path == "/in/{token}"  # the token is a capability: never stored in clear
    assert stored.headers["x-github-event"] == "push"  # names lower-cased
    await receiver.wait_for(1, "/gh")
    [delivered] = receiver.requests("/gh")
    assert delivered.body == body
    Webhook(endpoint.secret).verify(delivered.body, dict(delivered.headers))
    [message] = await server.messages(source)
    assert (message.event_type, message.event_id) == ("push", stored.id)

    async def routed() -> bool:
        return (await server.store.get_inbound_request(source.id, stored.id)).msg_id == message.id

    await server.eventually(routed)


async def test_a_forged_request_is_401_stored_as_rejected_and_reaches_nobody(
    server, receiver
) -> None:
    source = await server.source("github", GITHUB)
    await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push(secret="not the secret")
    response = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert assert_error(response, 401)["code"] == "verification_failed"
    # a genuine one after it, so "nothing yet" below is not just "not yet"
    good_body, good_headers = github_push(n=2)
    ok = await server.client.post(
        server.ingest_url(source), content=good_body, headers=good_headers
    )
    assert ok.status_code == 200
    await receiver.wait_for(1, "/gh")
    rejected, accepted = await stored_requests(server.store, source)
    assert (rejected.verdict, rejected.reason, rejected.status_code) == (
        Verdict.REJECTED,
        "bad_signature",
        401,
    )
    assert rejected.body == body and rejected.msg_id is None
    assert accepted.verdict is Verdict.ACCEPTED
    assert [json.loads(r.body)["n"] for r in receiver.requests("/gh")] == [2]
    assert [m.event_id for m in await server.messages(source)] == [accepted.id]


async def test_unknown_and_rotated_away_tokens_are_404_and_store_nothing(server) -> None:
    source = await server.source("github", GITHUB)
    body, headers = github_push()
    unknown = await server.client.post("/in/not-a-token", content=body, headers=headers)
    assert_error(unknown, 404)
    assert_error(await server.client.post("/in/", content=body, headers=headers), 404)
    old_url = server.ingest_url(source)
    assert (await server.client.post(old_url, content=body, headers=headers)).status_code == 200
    # rotate behind the server's back (as another process would): its cached lookup of the
    # old token is still warm, and must not let a request in
    source.token = "rotated-" + source.token
    rotated = await server.store.update_source(source)
    assert await server.store.source_by_token(token_hash(rotated.token)) is not None
    body2, headers2 = github_push(n=2)
    assert_error(await server.client.post(old_url, content=body2, headers=headers2), 404)
    new = await server.client.post(server.ingest_url(rotated), content=body2, headers=headers2)
    assert new.status_code == 200
    assert len(await stored_requests(server.store, source)) == 2


async def test_other_methods_are_405_with_allow(server) -> None:
    source = await server.source("github", GITHUB)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = await server.client.request(method, server.ingest_url(source))
        assert_error(response, 405)
        assert response.headers["allow"] == "POST"
    assert await stored_requests(server.store, source) == []


async def test_a_body_over_the_limit_is_413_declared_or_streamed(tmp_path) -> None:
    from inbound_kit import serve

    limit = 4096
    async with serve(tmp_path, inbound_max_body_bytes=limit) as server:
        source = await server.source("github", GITHUB)
        url = server.ingest_url(source)
        _, headers = github_push()
        declared = await server.client.post(url, content=b"x" * (limit + 1), headers=headers)
        assert_error(declared, 413)

        async def stream() -> AsyncIterator[bytes]:  # chunked: no Content-Length to go by
            for _ in range(8):
                yield b"y" * 1024

        streamed = await server.client.post(url, content=stream(), headers=headers)
        assert_error(streamed, 413)
        at_limit = b'{"a":"' + b"z" * (limit - 8) + b'"}'
        _, ok_headers = github_push()
        import hashlib
        import hmac

        digest = hmac.new(SECRET.encode(), at_limit, hashlib.sha256).hexdigest()
        ok_headers["X-Hub-Signature-256"] = f"sha256={digest}"
        ok = await server.client.post(url, content=at_limit, headers=ok_headers)
        assert ok.status_code == 200, ok.text
        assert [r.body for r in await stored_requests(server.store, source)] == [at_limit]


async def test_a_store_failure_is_503_with_retry_after_and_writes_nothing(server) -> None:
    source = await server.source("github", GITHUB)
    body, headers = github_push(delivery="d-503")
    server.sql(
        "CREATE TRIGGER broken BEFORE INSERT ON inbound_request"
        " BEGIN INSERT INTO no_such_table VALUES (1); END"
    )
    response = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert assert_error(response, 503)["code"] == "store_unavailable"
    assert response.headers["retry-after"] == "1"
    assert await stored_requests(server.store, source) == []
    server.sql("DROP TRIGGER broken")
    # the provider's retry is accepted: the failed attempt left no dedup entry behind
    again = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert (again.status_code, again.json()["status"]) == (200, "accepted")


async def test_the_same_delivery_twice_is_200_both_times_and_processed_once(
    server, receiver: Receiver
) -> None:
    source = await server.source("github", GITHUB)
    await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push(delivery="same")
    first = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    second = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert [first.status_code, second.status_code] == [200, 200]
    assert [first.json()["status"], second.json()["status"]] == ["accepted", "duplicate"]
    await receiver.wait_for(1, "/gh")
    await asyncio.sleep(0.5)  # time for a wrong second delivery to show up
    assert len(receiver.requests("/gh")) == 1
    assert len(await server.messages(source)) == 1
    verdicts = [r.verdict for r in await stored_requests(server.store, source)]
    assert verdicts == [Verdict.ACCEPTED, Verdict.DUPLICATE]


async def test_twenty_concurrent_copies_make_exactly_one_message(server, receiver) -> None:
    source = await server.source("github", GITHUB)
    await server.endpoint(source, receiver.url("/gh"))
    body, headers = github_push(delivery="burst")
    url = server.ingest_url(source)
    answers = await asyncio.gather(
        *(server.client.post(url, content=body, headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 19
    await receiver.wait_for(1, "/gh")
    await asyncio.sleep(0.5)
    assert len(receiver.requests("/gh")) == 1
    assert len(await server.messages(source)) == 1


async def test_without_a_delivery_id_the_body_hash_deduplicates(server) -> None:
    source = await server.source("api-key", {"secret": "k-123"})
    url = server.ingest_url(source)
    headers = {"x-api-key": "k-123", "content-type": "application/json"}
    answers = [
        (await server.client.post(url, content=body, headers=headers)).json()["status"]
        for body in (b'{"a":1}', b'{"a":1}', b'{"a":2}')
    ]
    assert answers == ["accepted", "duplicate", "accepted"]


async def test_slack_url_verification_is_answered_and_stored_as_a_challenge(server) -> None:
    source = await server.source("slack", {"secret": "slack-signing-secret"})
    body = json.dumps(
        {
            "type": "url_verification",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        }
    )
    timestamp = str(int(__import__("time").time()))
    signature = SignatureVerifier("slack-signing-secret").generate_signature(
        timestamp=timestamp, body=body
    )
    headers = {
        "content-type": "application/json",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }
    response = await server.client.post(server.ingest_url(source), content=body, headers=headers)
    assert response.status_code == 200
    assert response.text == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    [stored] = await stored_requests(server.store, source)
    assert stored.verdict is Verdict.CHALLENGE
    await asyncio.sleep(0.3)
    assert await server.messages(source) == []
