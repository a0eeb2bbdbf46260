"""Endpoint secrets at rest: encrypted in the database, plain text above the store, and
readable across a key rotation; a wrong key stops the start instead of signing garbage."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

import hookline
from hookline import ids
from hookline.config import Settings
from hookline.models import Application, Endpoint, Message, OldSecret
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.signing.at_rest import PREFIX, UndecryptableSecret, generate_key
from hookline.store.base import PageRequest, Store

NOW = int(time.time() * 1000)
LATER = NOW + 3_600_000
SRC_DIR = Path(hookline.__file__).resolve().parents[1]


def settings(data: Path, key: str | None = None, previous: tuple[str, ...] = ()) -> Settings:
    return Settings(
        data_dir=data,
        sqlite_synchronous="NORMAL",
        secret_key=key,
        secret_keys_previous=",".join(previous),
    )


@asynccontextmanager
async def opened(s: Settings) -> AsyncIterator[Store]:
    store = open_store(s)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def add_endpoints(store: Store, n: int) -> tuple[Application, dict[str, list[str]]]:
    """``n`` endpoints, each with a current secret and one old secret still signing."""
    app = await store.create_application(
        Application(id=ids.new_id("app"), name="acme", created_at=NOW, updated_at=NOW)
    )
    keys: dict[str, list[str]] = {}
    for _ in range(n):
        current, old = generate_secret(), generate_secret()
        ep = Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url="http://127.0.0.1:9/hook",
            secret=current,
            old_secrets=[OldSecret(old, LATER)],
            created_at=NOW,
            updated_at=NOW,
        )
        await store.create_endpoint(ep)
        keys[ep.id] = [current, old]
    return app, keys


async def assert_reads(store: Store, app: Application, keys: dict[str, list[str]]) -> None:
    """The API's view and the worker's view both get the plain-text keys."""
    page = await store.list_endpoints(app.id, PageRequest(limit=100))
    assert {ep.id: [ep.secret, *(s.key for s in ep.old_secrets)] for ep in page.data} == keys
    for ep_id, expected in keys.items():
        assert (await store.get_endpoint(app.id, ep_id)).secret == expected[0]
    msg = Message(
        id=ids.new_id("msg"), app_id=app.id, event_type="a", payload=b"{}", created_at=NOW
    )
    await store.publish(msg, NOW)
    ready = await store.ready_endpoints(NOW, limit=100)
    tasks = await store.claim("w", [(r, 10) for r in ready], NOW, 60_000)
    assert {t.endpoint_id: list(t.signing_keys) for t in tasks} == keys


def raw_secrets(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data / "hookline.db") as conn:
        return conn.execute("SELECT secret, old_secrets FROM endpoint").fetchall()


def rotate_cli(data: Path, key: str, previous: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
    env |= {
        "PYTHONPATH": str(SRC_DIR),
        "HOOKLINE_DATA_DIR": str(data),
        "HOOKLINE_SECRET_KEY": key,
        "HOOKLINE_SECRET_KEYS_PREVIOUS": previous,
    }
    argv = [sys.executable, "-m", "hookline", "rotate-secret-key", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


async def test_a_generated_key_is_private_and_reused_across_restarts(tmp_path: Path) -> None:
    async with opened(settings(tmp_path)) as store:
        app, keys = await add_endpoints(store, 2)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file.read_text()
    async with opened(settings(tmp_path)) as store:
        await assert_reads(store, app, keys)
    assert key_file.read_text() == first_key
    for secret, old_secrets in raw_secrets(tmp_path):
        assert secret.startswith(PREFIX) and PREFIX in old_secrets
        assert "whsec_" not in secret + old_secrets


async def test_plain_text_rows_from_before_encryption_still_read_and_get_encrypted(
    tmp_path: Path,
) -> None:
    key = generate_key()
    async with opened(settings(tmp_path, key)) as store:
        app, keys = await add_endpoints(store, 3)
    # What a database written before this release holds: the keys themselves (for the
    # first endpoint only its old secret, as if just that column were left behind).
    with sqlite3.connect(tmp_path / "hookline.db") as conn:
        for n, (ep_id, (current, old)) in enumerate(keys.items()):
            conn.execute(
                "UPDATE endpoint SET old_secrets = ? WHERE id = ?", (f'[["{old}", {LATER}]]', ep_id)
            )
            if n:
                conn.execute("UPDATE endpoint SET secret = ? WHERE id = ?", (current, ep_id))
    async with opened(settings(tmp_path, key)) as store:
        await assert_reads(store, app, keys)
        assert await store.reseal_secrets(batch_size=2) == 3  # type: ignore[attr-defined]
        assert await store.reseal_secrets(batch_size=2) == 0  # type: ignore[attr-defined]
        await assert_reads(store, app, keys)
    for secret, old_secrets in raw_secrets(tmp_path):
        assert secret.startswith(PREFIX) and "whsec_" not in secret + old_secrets


async def test_key_rotation_reads_old_rows_re_encrypts_them_and_the_old_key_can_go(
    tmp_path: Path,
) -> None:
    old_key, new_key = generate_key(), generate_key()
    async with opened(settings(tmp_path, old_key)) as store:
        app, keys = await add_endpoints(store, 5)

    async with opened(settings(tmp_path, new_key, (old_key,))) as store:
        await assert_reads(store, app, keys)  # the new key first, the old one still reads

    done = rotate_cli(tmp_path, new_key, old_key, "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted the secrets of 5 endpoint(s)" in done.stdout
    new_only = Fernet(new_key.encode())
    for secret, _ in raw_secrets(tmp_path):
        assert new_only.decrypt(secret.removeprefix(PREFIX).encode()).decode() in {
            k[0] for k in keys.values()
        }

    async with opened(settings(tmp_path, new_key)) as store:  # the old key is dropped
        await assert_reads(store, app, keys)
    with pytest.raises(UndecryptableSecret, match="5 endpoint"):
        async with opened(settings(tmp_path, old_key)):
            pass


async def test_a_wrong_key_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    async with opened(settings(tmp_path, generate_key())) as store:
        await add_endpoints(store, 1)
    with pytest.raises(UndecryptableSecret, match="HOOKLINE_SECRET_KEYS_PREVIOUS"):
        async with opened(settings(tmp_path, generate_key())):
            pass
    # And from the command line: an error line, a failing exit status, no traceback.
    done = rotate_cli(tmp_path, generate_key(), "")
    assert done.returncode == 1
    assert "Error: 1 endpoint(s) have secrets the configured keys cannot decrypt" in done.stderr
    assert "Traceback" not in done.stderr
