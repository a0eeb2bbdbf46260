"""A real server with an actions file: the API attaches an endpoint to a declared action,
the worker runs it for a published message, and the attempt log shows its output."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).parents[1] / "delivery" / "action_script.py"


async def test_a_published_message_runs_the_declared_action(start_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    actions_file = tmp_path / "actions.toml"
    actions_file.write_text(
        f"""
[actions.echo]
command = ["{sys.executable}", "{SCRIPT}", "echo"]
args = ["--ref", {{ jmespath = "payload.ref" }}, {{ jmespath = "event_type" }}]
timeout = "2s"
concurrency = 1
"""
    )
    env = {"HOOKLINE_ACTIONS_FILE": str(actions_file)}
    server = await asyncio.to_thread(start_server, None, env)
    async with server.api() as api:
        app_id = await api.create_app("actions")
        refused = await api.client.post(
            f"/app/{app_id}/endpoint", json={"url": "action://undeclared"}
        )
        assert refused.status_code == 422, refused.text
        endpoint = await api.create_endpoint(app_id, "action://echo")
        msg_id = await api.publish(app_id, "push", {"ref": "$(id); `id`"})
        attempts: list[dict[str, object]] = []

        async def one_attempt() -> bool:
            attempts[:] = await api.attempts_by_msg(app_id, msg_id)
            return bool(attempts)

        await api.eventually(one_attempt, timeout=20)
    [attempt] = attempts
    assert attempt["url"] == "action://echo" and attempt["endpointId"] == endpoint["id"]
    assert (attempt["status"], attempt["responseStatusCode"]) == (0, 200)
    head, _, stdout, *_ = str(attempt["response"]).split("\n")
    assert head == "exit status 0"
    assert json.loads(stdout)["argv"] == ["--ref", "$(id); `id`", "push"]
