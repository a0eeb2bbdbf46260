"""Credential headers of received requests at rest: sealed in their own column, opened
for the router only, re-encrypted by a key rotation, covered by the start check, and
dropped with the body when retention expires it."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from test_secrets_at_rest import opened, rotate_cli, settings
from test_source_secrets_at_rest import raw_file

from hookline import ids
from hookline.models import Application
from hookline.signing.at_rest import PREFIX, UndecryptableSecret, generate_key
from hookline.sources import InboundFilter, InboundRequest, Source, Verdict, credential_headers
from hookline.store.base import PageRequest, Store

NOW = int(time.time() * 1000)


async def key_source(store: Store) -> Source:
    app = Application(id=ids.new_id("app"), name="keys", created_at=NOW, updated_at=NOW)
    source = Source(
        id=ids.new_id("src"),
        name="keys",
        provider="api-key",
        config={"secrets": ["k-" + secrets.token_hex(12)], "header": "x-deploy-key"},
        token=secrets.token_urlsafe(32),
        app_id=app.id,
        created_at=NOW,
        updated_at=NOW,
    )
    return await store.create_source(source, app)


def with_credentials(source: Source, n: int) -> InboundRequest:
    """An accepted request carrying the source's key, a bearer token and a cookie."""
    return InboundRequest(
        id=ids.new_id("req", NOW + n),
        source_id=source.id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={
            "content-type": "application/json",
            "x-deploy-key": f"key-{n}-" + secrets.token_hex(12),
            "authorization": f"Bearer tok-{n}-" + secrets.token_hex(12),
            "cookie": f"session=ck-{n}-" + secrets.token_hex(12),
            "x-request-id": f"id-{n}",
        },
        body=b'{"n": %d}' % n,
        verdict=Verdict.ACCEPTED,
        status_code=200,
        received_at=NOW + n,
        event_type="ping",
        dedup_key=f"d-{n}",
    )


def plain_request(source: Source) -> InboundRequest:
    request = with_credentials(source, 99)
    request.headers = {"content-type": "application/json", "x-request-id": "id-99"}
    return request


def sealed_column(data: Path) -> dict[str, str | None]:
    with sqlite3.connect(data / "hookline.db") as conn:
        return dict(conn.execute("SELECT id, sealed_headers FROM inbound_request").fetchall())


async def intake_some(store: Store, source: Source, n: int) -> list[InboundRequest]:
    """``n`` requests with credentials, then one without (returned last)."""
    made = [*(with_credentials(source, i) for i in range(n)), plain_request(source)]
    for request in made:
        await store.intake(replace(request), NOW, source.version, credential_headers(source))
    return made


async def test_credentials_are_sealed_the_router_opens_them_and_the_api_reads_do_not(
    tmp_path: Path,
) -> None:
    async with opened(settings(tmp_path)) as store:
        source = await key_source(store)
        *made, plain = await intake_some(store, source, 3)
        routed = {r.id: r.headers for r in await store.unrouted_requests(10)}
        listed = await store.list_inbound_requests(
            source.id, InboundFilter(), PageRequest(limit=10)
        )
        one = await store.get_inbound_request(source.id, made[0].id)
    for request in made:  # the router's read: every header as it arrived, in its order
        assert list(routed[request.id].items()) == list(request.headers.items())
    hidden = {"x-deploy-key", "authorization", "cookie"}
    assert routed[plain.id] == plain.headers
    for shown in [one, *listed.data]:
        masked = {k for k, v in shown.headers.items() if v == "***"}
        assert masked == (set() if shown.id == plain.id else hidden)
    data = raw_file(tmp_path)
    for request in made:
        for name in hidden:
            assert request.headers[name].encode() not in data
    column = sealed_column(tmp_path)
    assert column.pop(plain.id) is None  # nothing to seal, nothing sealed
    assert len(column) == 3 and all(v and v.startswith(PREFIX) for v in column.values())


async def test_key_rotation_reseals_request_credentials_and_the_start_checks_them(
    tmp_path: Path,
) -> None:
    old_key, new_key = generate_key(), generate_key()
    async with opened(settings(tmp_path, old_key)) as store:
        source = await key_source(store)
        *made, _ = await intake_some(store, source, 3)
    done = rotate_cli(tmp_path, new_key, old_key, "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    # the source and the three requests that hold credentials; the plain one is not walked
    assert "re-encrypted the secrets of 4 endpoint(s), source(s)" in done.stdout
    new_only = Fernet(new_key.encode())
    opened_values = [
        new_only.decrypt(v.removeprefix(PREFIX).encode())
        for v in sealed_column(tmp_path).values()
        if v is not None
    ]
    assert len(opened_values) == 3
    async with opened(settings(tmp_path, new_key)) as store:  # the old key is dropped
        routed = {r.id: r.headers for r in await store.unrouted_requests(10)}
    assert {r.id: routed[r.id] for r in made} == {r.id: r.headers for r in made}


async def test_the_start_refuses_a_key_that_cannot_open_received_credentials(
    tmp_path: Path,
) -> None:
    old_key, new_key = generate_key(), generate_key()
    async with opened(settings(tmp_path, old_key)) as store:
        source = await key_source(store)
        await intake_some(store, source, 2)
    # the source is written again under the new key, its requests are left behind
    async with opened(settings(tmp_path, new_key, (old_key,))) as store:
        await store.update_source(await store.get_source(source.id))
    with pytest.raises(UndecryptableSecret, match=r"^2 received request\(s\) have secrets"):
        async with opened(settings(tmp_path, new_key)):
            pass


async def test_retention_drops_the_sealed_credentials_with_the_body(tmp_path: Path) -> None:
    async with opened(settings(tmp_path)) as store:
        source = await key_source(store)
        await intake_some(store, source, 2)
        after = ids.id_timestamp_ms(ids.new_id("req")) + 1000
        assert await store.expire_inbound(after, after, 100) == 3
    assert set(sealed_column(tmp_path).values()) == {None}
