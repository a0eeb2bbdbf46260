"""Source secrets at rest: the provider config and the token are sealed like endpoint
secrets, re-encrypted by a key rotation, and checked at start; deleting a source takes its
received requests and dedup rows with it."""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from test_secrets_at_rest import opened, rotate_cli, settings

from hookline import ids
from hookline.models import Application
from hookline.signing.at_rest import PREFIX, UndecryptableSecret, generate_key
from hookline.sources import Source, token_hash
from hookline.store.base import Store

NOW = int(time.time() * 1000)


async def add_source(store: Store) -> Source:
    app = Application(id=ids.new_id("app"), name="in", created_at=NOW, updated_at=NOW)
    source = Source(
        id=ids.new_id("src"),
        name="in",
        provider="basic-auth",
        config={"credentials": [{"username": "u", "password": "pw-" + secrets.token_hex(12)}]},
        token=secrets.token_urlsafe(32),
        app_id=app.id,
        created_at=NOW,
        updated_at=NOW,
    )
    return await store.create_source(source, app)


def clear_texts(source: Source) -> list[str]:
    return [source.token, source.config["credentials"][0]["password"]]


def raw_file(data: Path) -> bytes:
    """Every byte SQLite wrote: the database, and the WAL if a checkpoint is pending."""
    return b"".join(p.read_bytes() for p in data.glob("hookline.db*"))


async def test_the_database_never_holds_a_source_secret_or_token_in_clear(
    tmp_path: Path,
) -> None:
    async with opened(settings(tmp_path)) as store:
        made = [await add_source(store) for _ in range(3)]
        assert [await store.get_source(s.id) for s in made] == made
        assert await store.source_by_token(token_hash(made[0].token)) == made[0]
    data = raw_file(tmp_path)
    assert b"pw-" not in data
    for source in made:
        for text in clear_texts(source):
            assert text.encode() not in data
    with sqlite3.connect(tmp_path / "hookline.db") as conn:
        for config, token in conn.execute("SELECT config, token FROM source"):
            assert config.startswith(PREFIX) and token.startswith(PREFIX)


async def test_key_rotation_reseals_sources_and_a_wrong_key_stops_the_start(
    tmp_path: Path,
) -> None:
    old_key, new_key = generate_key(), generate_key()
    async with opened(settings(tmp_path, old_key)) as store:
        made = [await add_source(store) for _ in range(3)]
    done = rotate_cli(tmp_path, new_key, old_key, "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted the secrets of 3 endpoint(s), source(s)" in done.stdout
    new_only = Fernet(new_key.encode())
    with sqlite3.connect(tmp_path / "hookline.db") as conn:
        tokens = {
            new_only.decrypt(t.removeprefix(PREFIX).encode()).decode()
            for (t,) in conn.execute("SELECT token FROM source")
        }
    assert tokens == {s.token for s in made}
    async with opened(settings(tmp_path, new_key)) as store:  # the old key is dropped
        assert [await store.get_source(s.id) for s in made] == made
    with pytest.raises(UndecryptableSecret, match="3 source"):
        async with opened(settings(tmp_path, old_key)):
            pass


async def test_deleting_a_source_deletes_its_requests_and_dedup_rows(tmp_path: Path) -> None:
    async with opened(settings(tmp_path)) as store:
        gone, kept = await add_source(store), await add_source(store)
    with sqlite3.connect(tmp_path / "hookline.db") as conn:  # what intake leaves behind
        for source in (gone, kept):
            req = ids.new_id("inreq")
            conn.execute(
                "INSERT INTO inbound_request (id, source_id, method, path, query, headers,"
                " body, verdict, status_code, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (req, source.id, "POST", "/in/x", "", "{}", b"{}", "accepted", 200, NOW),
            )
            conn.execute(
                "INSERT INTO inbound_dedup (source_id, dedup_key, request_id, seen_at)"
                " VALUES (?,?,?,?)",
                (source.id, "d1", req, NOW),
            )
    async with opened(settings(tmp_path)) as store:
        await store.delete_source(gone.id)
    with sqlite3.connect(tmp_path / "hookline.db") as conn:
        for table in ("inbound_request", "inbound_dedup"):
            left = conn.execute(f"SELECT source_id FROM {table}").fetchall()
            assert left == [(kept.id,)]
