"""``HOOKLINE_LOG_FORMAT=json``: a real ``hookline serve --workers 1`` at debug level, a
secret rotation, and deliveries to an endpoint with an ``Authorization`` header that
fail, then succeed, and to one that fails until it is given up. Every line every process
writes is one JSON object with the stable keys, the deliveries' lines carry their ids,
and no secret, token, header value or payload is anywhere in the output.

The worker process's heartbeat makes the deployment ready, too (``/health/ready``)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from hookline.testing import Receiver

if TYPE_CHECKING:  # types only: several conftest modules share that name in a whole run
    from conftest import ServerHandle

KEYS = {"time", "level", "event", "logger", "message"}


async def test_json_logs_are_parseable_and_carry_no_secret(
    start_server: Callable[..., ServerHandle], receiver: Receiver
) -> None:
    env = {"HOOKLINE_LOG_FORMAT": "json", "HOOKLINE_LOG_LEVEL": "debug"}
    server = await asyncio.to_thread(start_server, env_overrides=env, args=["--workers", "1"])
    header_value = "Bearer " + secrets.token_urlsafe(24)
    marker = "payload-marker-" + secrets.token_hex(12)
    receiver.fail("/ok", times=1)  # 500, then 200
    receiver.script("/down", default=500)
    async with server.api() as api:
        app_id = await api.create_app("logs")
        ok = await api.create_endpoint(app_id, receiver.url("/ok"))
        down = await api.create_endpoint(app_id, receiver.url("/down"))
        old_secret = await api.endpoint_secret(app_id, ok["id"])
        rotated = await api.client.post(f"/app/{app_id}/endpoint/{ok['id']}/secret/rotate", json={})
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["key"]
        put = await api.client.put(
            f"/app/{app_id}/endpoint/{ok['id']}/headers",
            json={"headers": {"Authorization": header_value}},
        )
        assert put.status_code == 204, put.text
        msg_id = await api.publish(app_id, "user.created", {"note": marker})

        async def settled() -> bool:
            attempts = await api.attempts_by_msg(app_id, msg_id)
            oks = [a for a in attempts if a["endpointId"] == ok["id"]]
            downs = [a for a in attempts if a["endpointId"] == down["id"]]
            return any(a["status"] == 0 for a in oks) and len(downs) >= 4

        await api.eventually(settled, timeout=60)
        sent = receiver.requests("/ok")[-1]
        assert sent.headers["authorization"] == header_value  # the header was really sent
        assert marker in sent.body.decode()
        async with httpx.AsyncClient(base_url=server.base_url) as anon:
            ready = await anon.get("/api/v1/health/ready")
        assert ready.status_code == 200, ready.text
        # uvicorn's own warning goes through our handler too
        host, port = server.base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert await asyncio.to_thread(server.stop) == 0

    output = server.stdout_path.read_text() + server.stderr_path.read_text()
    records = [_parse(line) for line in output.splitlines() if line.strip()]
    for forbidden in (old_secret, new_secret, server.token, header_value, marker):
        assert forbidden not in output, forbidden
    # the value without its scheme, and the secrets' key material without the prefix
    assert header_value.split(" ", 1)[1] not in output
    assert old_secret.removeprefix("whsec_") not in output
    assert new_secret.removeprefix("whsec_") not in output

    events = {r["event"] for r in records}
    assert {"serve_started", "role_started", "delivery_attempt", "role_stopped"} <= events
    attempts = [r for r in records if r["event"] == "delivery_attempt"]
    outcomes = {(r["endpoint_id"], r["outcome"]) for r in attempts if r["msg_id"] == msg_id}
    assert {(ok["id"], "failed"), (ok["id"], "success"), (down["id"], "given_up")} <= outcomes
    for r in attempts:
        assert r["app_id"] == app_id and r["attempt_id"].startswith("atmpt_")
    given_up = [r for r in records if r["event"] == "delivery_given_up"]
    assert [(r["endpoint_id"], r["msg_id"], r["level"]) for r in given_up] == [
        (down["id"], msg_id, "WARNING")
    ]
    assert any(r["logger"] == "uvicorn.error" for r in records), events
    processes = {r.get("process") for r in records}
    assert {"api", "worker-1"} <= processes, processes


def _parse(line: str) -> dict[str, Any]:
    record = json.loads(line)
    assert isinstance(record, dict), line
    assert KEYS <= record.keys(), line
    assert record["time"].endswith("Z") and "T" in record["time"], line
    return record
