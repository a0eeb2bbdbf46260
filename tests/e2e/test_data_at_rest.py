"""What a real server leaves on disk: private files, and no endpoint secret in plain text."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

pytestmark = pytest.mark.e2e

PRIVATE_FILES = ("hookline.db", "hookline.db-wal", "hookline.db-shm", "admin_token", "secret_key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(data: Path) -> None:
    assert mode(data) == 0o700, f"data folder is {oct(mode(data))}"
    for name in PRIVATE_FILES:
        assert (data / name).exists(), f"{name} is missing"
        assert mode(data / name) == 0o600, f"{name} is {oct(mode(data / name))}"


async def test_data_folder_and_files_are_private_even_if_they_were_not(start_server, tmp_path):
    data = tmp_path / "data"
    no_token = {"HOOKLINE_API_TOKEN": ""}  # so the server writes its own admin_token
    server = await asyncio.to_thread(start_server, data, no_token)
    assert_private(data)  # checked while running: -wal and -shm exist only while it is open
    server.stop()

    # A folder from an older release, or touched by hand: everything group/world readable.
    data.chmod(0o755)
    for path in data.iterdir():
        path.chmod(0o644)
    await asyncio.to_thread(start_server, data, no_token)
    assert_private(data)


def new_secret() -> tuple[str, bytes]:
    raw = os.urandom(24)
    return "whsec_" + base64.b64encode(raw).decode(), raw


async def test_endpoint_secrets_are_encrypted_on_disk_and_deliveries_still_verify(
    start_server, receiver, tmp_path
):
    server = await asyncio.to_thread(start_server)
    first, first_raw = new_secret()
    second, second_raw = new_secret()
    async with server.api() as api:
        app_id = await api.create_app("at-rest")
        endpoint = await api.create_endpoint(app_id, receiver.url("/hook"), secret=first)
        assert await api.endpoint_secret(app_id, endpoint["id"]) == first
        rotated = await api._call(
            "POST",
            f"/app/{app_id}/endpoint/{endpoint['id']}/secret/rotate",
            200,
            json={"key": second},
        )
        assert rotated["key"] == second
        assert await api.endpoint_secret(app_id, endpoint["id"]) == second
        msg_id = await api.publish(app_id, "order.created", {"n": 1})
        await receiver.wait_until(lambda: len(receiver.requests("/hook")) >= 1, timeout=20)

    request = receiver.requests("/hook")[0]
    headers = dict(request.headers)
    assert headers["webhook-id"] == msg_id
    # Both keys sign during the rotation's grace period; an independent library checks each.
    StandardWebhook(second).verify(request.body, headers)
    StandardWebhook(first).verify(request.body, headers)

    data = server.data_dir
    with sqlite3.connect(f"file:{data / 'hookline.db'}?mode=ro", uri=True) as conn:
        stored = conn.execute("SELECT * FROM endpoint").fetchall()
    text = repr(stored)
    assert "whsec_" not in text
    for secret in (first, second):
        assert secret.removeprefix("whsec_") not in text
    # Nor anywhere in the files, including pages the write-ahead log still holds.
    for path in data.glob("hookline.db*"):
        blob = path.read_bytes()
        for secret, raw in ((first, first_raw), (second, second_raw)):
            assert secret.removeprefix("whsec_").encode() not in blob, path.name
            assert raw not in blob, path.name
