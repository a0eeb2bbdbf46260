"""The Ingest API's sources: Svix's types and config shapes, hookline's extension providers
shown as ``generic-webhook``, ingest URLs and their tokens, and refused input."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import assert_error, assert_list_shape, make_settings, new_secret

from hookline import runtime
from hookline.errors import NotFound
from hookline.sources import token_hash
from hookline.store.base import Store

SOURCES = "/ingest/api/v1/source"
WHSEC = new_secret()
# (type sent, config sent, type shown, provider)
KINDS: list[tuple[str, dict[str, Any], str, str]] = [
    ("github", {"secret": "gh-secret"}, "github", "github"),
    ("stripe", {"secret": "whsec_stripe"}, "stripe", "stripe"),
    ("shopify", {"secret": "shp-secret"}, "shopify", "shopify"),
    ("slack", {"secret": "slack-secret"}, "slack", "slack"),
    ("svix", {"secret": WHSEC}, "svix", "svix"),
    ("twilio", {"secret": "tw-token"}, "generic-webhook", "twilio"),
    ("generic-webhook", {"provider": "twilio", "secret": "tw"}, "generic-webhook", "twilio"),
    (
        "generic-webhook",
        {"provider": "hmac", "secret": "k", "header": "X-Sig", "prefix": "sha256="},
        "generic-webhook",
        "hmac",
    ),
    ("hmac", {"secret": "k", "header": "X-Sig", "encoding": "base64"}, "generic-webhook", "hmac"),
    (
        "generic-webhook",
        {"provider": "basic-auth", "username": "u", "password": "basic-pass-word"},
        "generic-webhook",
        "basic-auth",
    ),
    ("api-key", {"secret": "key-1", "header": "X-Api-Key"}, "generic-webhook", "api-key"),
    ("standard-webhooks", {"secret": WHSEC}, "generic-webhook", "standard-webhooks"),
    ("generic-webhook", {}, "generic-webhook", "none"),
    ("none", {}, "generic-webhook", "none"),
]
SECRET_TEXTS = (
    "gh-secret",
    "whsec_stripe",
    "shp-secret",
    "slack-secret",
    "tw-token",
    "basic-pass-word",
)


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "GitHub in", "type": "github", "config": {"secret": "s3cret"}, **fields}
    resp = await client.post(SOURCES, json=body)
    assert resp.status_code == 201, resp.text
    out: dict[str, Any] = resp.json()
    return out


def rows(data_dir: Path, table: str) -> int:
    path = runtime.sqlite_path(make_settings(data_dir).resolved_database_url)
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.mark.parametrize(("sent_type", "config", "shown", "provider"), KINDS)
async def test_every_type_is_created_and_shown_without_its_secrets(
    client: httpx.AsyncClient,
    store: Store,
    sent_type: str,
    config: dict[str, Any],
    shown: str,
    provider: str,
) -> None:
    out = await create(client, type=sent_type, config=config, metadata={"team": "ops"})
    assert out["type"] == shown
    assert out["config"]["provider"] == provider
    assert not any(s in str(out) for s in (*SECRET_TEXTS, WHSEC)), out
    assert out["config"]["secretCount"] == (0 if provider == "none" else 1)
    assert out["dedupWindowSeconds"] == 86400 and out["metadata"] == {"team": "ops"}
    # the context's default base URL; the token carries 256 random bits
    match = re.fullmatch(r"http://127\.0\.0\.1:8000/in/([A-Za-z0-9_-]{43,})", out["ingestUrl"])
    assert match is not None, out["ingestUrl"]
    token = match.group(1)
    stored = await store.get_source(out["id"])
    assert (stored.provider, stored.token, stored.app_id) == (provider, token, out["appId"])
    assert (await store.get_application(out["appId"])).name == "GitHub in"
    again = await client.get(f"{SOURCES}/{out['id']}")
    assert again.json() == out


async def test_get_by_uid_list_pages_and_upsert(client: httpx.AsyncClient) -> None:
    made = [(await create(client, uid=f"src-{n}"))["id"] for n in range(3)]
    assert (await client.get(f"{SOURCES}/src-1")).json()["id"] == made[1]
    first = (await client.get(SOURCES, params={"limit": 2})).json()
    assert_list_shape(first)
    assert not first["done"]
    rest = (await client.get(SOURCES, params={"limit": 2, "iterator": first["iterator"]})).json()
    assert [s["id"] for s in first["data"] + rest["data"]] == made and rest["done"]

    body = {"name": "Stripe in", "type": "stripe", "config": {"secret": "whsec_x"}}
    created = await client.put(f"{SOURCES}/stripe-main", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["uid"] == "stripe-main" and created.json()["type"] == "stripe"
    body = {**body, "name": "Stripe renamed", "dedupWindowSeconds": 60}
    replaced = await client.put(f"{SOURCES}/stripe-main", json=body)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == created.json()["id"]
    assert replaced.json()["name"] == "Stripe renamed"
    assert replaced.json()["dedupWindowSeconds"] == 60
    assert replaced.json()["ingestUrl"] == created.json()["ingestUrl"]


async def test_patch_rotates_a_provider_secret_without_downtime(
    client: httpx.AsyncClient, store: Store
) -> None:
    out = await create(
        client, type="generic-webhook", config={"provider": "twilio", "secret": "old"}
    )
    path = f"{SOURCES}/{out['id']}"
    both = await client.patch(path, json={"config": {"secrets": ["new", "old"]}})
    assert both.status_code == 200, both.text
    assert both.json()["config"] == {"provider": "twilio", "secretCount": 2}
    assert (await store.get_source(out["id"])).config["secrets"] == ["new", "old"]
    only = await client.patch(path, json={"config": {"secret": "new"}, "name": "Twilio"})
    assert only.json()["config"]["secretCount"] == 1 and only.json()["name"] == "Twilio"
    assert (await store.get_source(out["id"])).config["secrets"] == ["new"]
    assert only.json()["ingestUrl"] == out["ingestUrl"]  # the token is untouched
    switched = await client.patch(
        path, json={"type": "generic-webhook", "config": {"provider": "api-key", "secret": "k"}}
    )
    assert switched.json()["config"] == {
        "provider": "api-key",
        "secretCount": 1,
        "header": "x-api-key",
    }
    cleared = await client.patch(path, json={"uid": None, "metadata": {"a": "b"}})
    assert cleared.json()["metadata"] == {"a": "b"} and cleared.json()["uid"] is None


async def test_rotating_the_token_retires_the_old_one_at_once(
    client: httpx.AsyncClient, store: Store
) -> None:
    out = await create(client)
    old_token = out["ingestUrl"].rsplit("/", 1)[1]
    resp = await client.post(f"{SOURCES}/{out['id']}/token/rotate")
    assert resp.status_code == 200, resp.text
    assert list(resp.json()) == ["ingestUrl"]
    new_token = resp.json()["ingestUrl"].rsplit("/", 1)[1]
    assert new_token != old_token and len(new_token) >= 43
    assert await store.source_by_token(token_hash(old_token)) is None
    assert (await store.source_by_token(token_hash(new_token))) is not None
    assert (await client.get(f"{SOURCES}/{out['id']}")).json()["ingestUrl"] == resp.json()[
        "ingestUrl"
    ]


async def test_delete_takes_the_application_and_its_endpoints(
    client: httpx.AsyncClient, store: Store
) -> None:
    out = await create(client, uid="to-go")
    ep = await client.post(f"{SOURCES}/to-go/endpoint", json={"url": "https://example.com/h"})
    assert ep.status_code == 201, ep.text
    assert (await client.delete(f"{SOURCES}/to-go")).status_code == 204
    assert_error(await client.get(f"{SOURCES}/{out['id']}"), 404)
    assert_error(await client.get(f"/api/v1/app/{out['appId']}"), 404)
    with pytest.raises(NotFound):
        await store.get_endpoint(out["appId"], ep.json()["id"])
    assert_error(await client.delete(f"{SOURCES}/to-go"), 404)
    kept = await create(client)
    refused = await client.delete(f"/api/v1/app/{kept['appId']}")
    assert assert_error(refused, 409)["code"] == "conflict"
    assert (await client.get(f"{SOURCES}/{kept['id']}")).status_code == 200


DROP = object()  # the field is left out of the body
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown type", {"type": "gitlab", "config": {"secret": "s"}}, "type"),
    ("missing secret", {"type": "github", "config": {}}, "config"),
    ("no config at all", {"type": "stripe", "config": DROP}, "config"),
    ("unknown config field", {"type": "github", "config": {"secret": "s", "algo": "x"}}, "config"),
    ("hmac without header", {"type": "hmac", "config": {"secret": "s"}}, "config"),
    (
        "bad algorithm",
        {"type": "hmac", "config": {"secret": "s", "header": "x", "algorithm": "md5"}},
        "config",
    ),
    (
        "bad tolerance",
        {"type": "slack", "config": {"secret": "s", "toleranceSeconds": 0}},
        "config",
    ),
    ("secret not a string", {"type": "github", "config": {"secret": 5}}, "config"),
    ("svix secret not whsec", {"type": "svix", "config": {"secret": "plain"}}, "config"),
    ("none with a secret", {"type": "none", "config": {"secret": "s"}}, "config"),
    (
        "generic with a Svix provider",
        {"type": "generic-webhook", "config": {"provider": "github", "secret": "s"}},
        "provider",
    ),
    (
        "provider mismatch",
        {"type": "github", "config": {"provider": "stripe", "secret": "s"}},
        "provider",
    ),
    ("uid with a space", {"uid": "has space"}, "uid"),
    ("uid with a dot", {"uid": "a.b"}, "uid"),
    ("uid like an id", {"uid": "src_123"}, "uid"),
    ("uid too long", {"uid": "u" * 61}, "uid"),
    ("name too short", {"name": "a"}, "name"),
    ("name too long", {"name": "n" * 257}, "name"),
    ("dedup window too long", {"dedupWindowSeconds": 7 * 86400 + 1}, "dedupWindowSeconds"),
    ("negative dedup window", {"dedupWindowSeconds": -1}, "dedupWindowSeconds"),
]


@pytest.mark.parametrize(("case", "fields", "loc"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_bad_input_is_a_422_that_writes_nothing(
    server: httpx.AsyncClient, tmp_path: Path, case: str, fields: dict[str, Any], loc: str
) -> None:
    body = {"name": "GitHub in", "type": "github", "config": {"secret": "s"}, **fields}
    body = {k: v for k, v in body.items() if v is not DROP}
    for method, path in (("POST", SOURCES), ("PUT", f"{SOURCES}/new-one")):
        resp = await server.request(method, path, json=body)
        detail = assert_error(resp, 422)
        assert detail["code"] == "validation", (case, detail)
        assert loc in str(detail["detail"]), (case, detail)
    assert rows(tmp_path, "source") == rows(tmp_path, "application") == 0


async def test_bad_patches_are_refused_and_change_nothing(
    server: httpx.AsyncClient, store: Store
) -> None:
    out = await create(server)
    path = f"{SOURCES}/{out['id']}"
    for body in (
        {"type": "stripe"},  # a new type needs its config
        {"config": {"secret": "s", "bogus": 1}},
        {"type": "gitlab", "config": {"secret": "s"}},
        {"name": "x"},
        {"uid": "src_x"},
    ):
        assert_error(await server.patch(path, json=body), 422)
    assert (await server.get(path)).json() == out


@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_a_taken_uid_is_409_and_unknown_sources_are_404(
    server: httpx.AsyncClient, tmp_path: Path
) -> None:
    await create(server, uid="dup")
    body = {"name": "again", "type": "github", "config": {"secret": "s"}, "uid": "dup"}
    assert assert_error(await server.post(SOURCES, json=body), 409)["code"] == "conflict"
    assert rows(tmp_path, "source") == rows(tmp_path, "application") == 1
    other = await create(server, uid="other")
    assert_error(await server.patch(f"{SOURCES}/{other['id']}", json={"uid": "dup"}), 409)
    missing = f"{SOURCES}/src_nothing"
    for method, path, body in (
        ("GET", missing, None),
        ("PATCH", missing, {"name": "nn"}),
        ("DELETE", missing, None),
        ("POST", missing + "/token/rotate", None),
        ("GET", missing + "/log", None),
        ("GET", missing + "/endpoint", None),
        ("POST", missing + "/endpoint", {"url": "https://example.com/h"}),
        ("PUT", f"{SOURCES}/not.a.uid", {"name": "nn", "type": "none"}),
    ):
        resp = await server.request(method, path, json=body)
        assert assert_error(resp, 404)["code"] == "not_found", (method, path)
    assert rows(tmp_path, "source") == 2


@pytest.mark.sqlite_only  # reads the SQLite file to see what was written
async def test_an_idempotency_key_creates_one_source_and_keeps_no_token_in_clear(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    body = {"name": "GitHub in", "type": "github", "config": {"secret": "s3cret-value"}}
    headers = {"Idempotency-Key": "src-1"}
    first = await client.post(SOURCES, json=body, headers=headers)
    second = await client.post(SOURCES, json=body, headers=headers)
    assert first.status_code == 201 and (second.status_code, second.content) == (201, first.content)
    rotate = f"{SOURCES}/{first.json()['id']}/token/rotate"
    turned = await client.post(rotate, headers={"Idempotency-Key": "rot-1"})
    again = await client.post(rotate, headers={"Idempotency-Key": "rot-1"})
    assert (again.status_code, again.content) == (200, turned.content)
    assert rows(tmp_path, "source") == 1
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("hookline.db*"))
    for token in (first.json()["ingestUrl"], turned.json()["ingestUrl"]):
        assert token.rsplit("/", 1)[1].encode() not in raw
    assert b"s3cret-value" not in raw


async def test_the_ingest_api_is_behind_the_token_gate(anon: httpx.AsyncClient) -> None:
    for method, path in (("GET", SOURCES), ("POST", SOURCES), ("GET", SOURCES + "/x/log")):
        resp = await anon.request(method, path, json={"name": "nn", "type": "none"})
        assert assert_error(resp, 401)["code"] == "authentication_failed"
