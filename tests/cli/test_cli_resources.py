"""Every API command against a real server: tables show the right values, and ``--json``
prints exactly what the API returns (compared with a direct request)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from api_helpers import TOKEN
from cli_server import Cli, ThreadedServer
from click.testing import CliRunner

from hookline.cli import main


@pytest.fixture(scope="module")
def api(server: ThreadedServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers) as client:
        yield client


def get(api: httpx.Client, path: str) -> Any:
    resp = api.get(path)
    assert resp.status_code == 200, resp.text
    return resp.json()


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def an_hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def test_app_commands(cli: Cli, api: httpx.Client) -> None:
    made = cli.json("app", "create", "--name", "Apps Inc", "--uid", "apps-inc")
    assert made == get(api, "/api/v1/app/apps-inc")
    listed = cli.run("app", "list").stdout
    assert made["id"] in listed and "apps-inc" in listed and "Apps Inc" in listed
    assert cli.json("app", "list") == get(api, "/api/v1/app")
    shown = cli.run("app", "get", "apps-inc").stdout
    assert made["id"] in shown and "Apps Inc" in shown
    changed = cli.json("app", "update", "apps-inc", "--name", "Apps Ltd", "--rate-limit", "7")
    assert changed["name"] == "Apps Ltd" and changed["throttleRate"] == 7
    assert changed == get(api, f"/api/v1/app/{made['id']}")
    assert "deleted" in cli.run("app", "delete", "apps-inc").stdout
    assert api.get("/api/v1/app/apps-inc").status_code == 404


def test_an_unknown_app_is_the_servers_404_as_one_line(cli: Cli) -> None:
    result = cli.run("app", "get", "no-such-app", ok=False)
    assert result.stderr.startswith("error: not_found: ")
    assert result.stdout == "" and "Traceback" not in result.output
    assert cli.run("endpoint", "list", "no-such-app", ok=False).stderr.startswith(
        "error: not_found: "
    )


def test_list_pages_with_limit_and_iterator(cli: Cli, api: httpx.Client) -> None:
    for n in range(3):
        cli.run("app", "create", "--name", f"page {n}", "--uid", f"page-{n}")
    first = cli.json("app", "list", "--limit", "2")
    assert len(first["data"]) == 2 and not first["done"]
    table = cli.run("app", "list", "--limit", "2").stdout
    assert f"more: --iterator {first['iterator']}" in table
    second = cli.json("app", "list", "--limit", "2", "--iterator", first["iterator"])
    assert second == get(api, f"/api/v1/app?limit=2&iterator={first['iterator']}")
    assert not {a["id"] for a in first["data"]} & {a["id"] for a in second["data"]}


def test_endpoint_commands(cli: Cli, api: httpx.Client, server: ThreadedServer) -> None:
    cli.run("app", "create", "--name", "Ep", "--uid", "ep-app")
    url = f"{server.receiver}/ok"
    made = cli.json(
        "endpoint", "create", "ep-app", "--url", url, "--uid", "billing", "--event-type", "a.b"
    )
    path = f"/api/v1/app/ep-app/endpoint/{made['id']}"
    assert made == get(api, path) and made["filterTypes"] == ["a.b"]
    listed = cli.run("endpoint", "list", "ep-app").stdout
    assert made["id"] in listed and url in listed
    assert cli.json("endpoint", "list", "ep-app") == get(api, "/api/v1/app/ep-app/endpoint")
    assert cli.json("endpoint", "get", "ep-app", "billing") == get(api, path)
    changed = cli.json("endpoint", "update", "ep-app", "billing", "--description", "bills")
    assert changed["description"] == "bills" and changed == get(api, path)

    secret = get(api, f"{path}/secret")["key"]
    assert cli.run("endpoint", "secret", "ep-app", "billing").stdout.strip() == secret
    cli.run("endpoint", "rotate-secret", "ep-app", "billing")
    rotated = cli.json("endpoint", "secret", "ep-app", "billing")
    assert rotated == get(api, f"{path}/secret") and rotated["key"] != secret

    shown = cli.run("endpoint", "headers", "ep-app", "billing", "--set", "X-Team=billing").stdout
    assert "X-Team" in shown and "billing" in shown
    assert cli.json("endpoint", "headers", "ep-app", "billing") == get(api, f"{path}/headers")
    gone = cli.json("endpoint", "headers", "ep-app", "billing", "--unset", "X-Team")
    assert gone["headers"] == {}

    assert cli.json("endpoint", "stats", "ep-app", "billing") == get(api, f"{path}/stats")
    sent = cli.json("endpoint", "send-example", "ep-app", "billing")
    assert sent["eventType"] == "svix.ping"
    assert sent == get(api, f"/api/v1/app/ep-app/msg/{sent['id']}")

    assert "deleted" in cli.run("endpoint", "delete", "ep-app", "billing").stdout
    assert api.get(path).status_code == 404


def test_messages_and_attempts(
    cli: Cli, api: httpx.Client, server: ThreadedServer, tmp_path: Path
) -> None:
    app = cli.json("app", "create", "--name", "Msgs", "--uid", "msgs")
    ep = cli.json("endpoint", "create", "msgs", "--url", f"{server.receiver}/ok")
    made = cli.json(
        "message", "create", "msgs", "--event-type", "invoice.paid", "--event-id", "evt-1",
        "--payload", '{"amount": 4200}',
    )  # fmt: skip
    assert made["payload"] == {"amount": 4200} and made["eventId"] == "evt-1"
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps({"from": "file"}))
    second = cli.json(
        "message", "create", "msgs", "--event-type", "invoice.paid",
        "--payload", f"@{payload_file}",
    )  # fmt: skip
    assert second["payload"] == {"from": "file"}
    listed = cli.run("message", "list", "msgs").stdout
    assert made["id"] in listed and "evt-1" in listed and "invoice.paid" in listed
    assert cli.json("message", "list", "msgs") == get(api, "/api/v1/app/msgs/msg")
    assert cli.json("message", "get", "msgs", "evt-1") == get(api, "/api/v1/app/msgs/msg/evt-1")

    by_msg = f"/api/v1/app/{app['id']}/attempt/msg/{made['id']}"
    eventually(lambda: get(api, by_msg)["data"], "the message was delivered")
    table = cli.run("attempt", "list", "msgs", "--msg", made["id"]).stdout
    assert ep["id"] in table and "200" in table
    assert cli.json("attempt", "list", "msgs", "--msg", made["id"]) == get(api, by_msg)
    by_ep = f"/api/v1/app/{app['id']}/attempt/endpoint/{ep['id']}"
    assert cli.json("attempt", "list", "msgs", "--endpoint", ep["id"]) == get(api, by_ep)
    cli.run("attempt", "list", "msgs", ok=False)  # neither --msg nor --endpoint

    assert "queued" in cli.run("attempt", "resend", "msgs", made["id"], ep["id"]).stdout
    eventually(lambda: len(get(api, by_msg)["data"]) == 2, "the resend was delivered")


@pytest.mark.parametrize(
    ("uid", "payload"),
    [("bad-json", "{bad"), ("bad-list", "[1, 2]"), ("bad-file", "@/nonexistent/payload.json")],
)
def test_a_bad_payload_is_a_clear_error_and_sends_nothing(
    cli: Cli, api: httpx.Client, uid: str, payload: str
) -> None:
    cli.run("app", "create", "--name", "Bad", "--uid", uid)
    result = cli.run(
        "message", "create", uid, "--event-type", "x.y", "--payload", payload, ok=False
    )
    assert result.stderr.startswith("error: ") and "--payload" in result.stderr
    assert "payload" in result.stderr and "Traceback" not in result.output
    assert get(api, f"/api/v1/app/{uid}/msg")["data"] == []


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "webhooks": {
        "shipment.sent": {
            "post": {
                "summary": "A shipment left",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def test_event_type_commands(cli: Cli, api: httpx.Client, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "required": ["id"]}))
    made = cli.json(
        "event-type", "create", "order.placed", "--description", "An order", "--schema",
        f"@{schema}",
    )  # fmt: skip
    assert made["schemas"] == {"1": {"type": "object", "required": ["id"]}}
    assert made == get(api, "/api/v1/event-type/order.placed")
    assert "order.placed" in cli.run("event-type", "list").stdout
    assert cli.json("event-type", "list") == get(api, "/api/v1/event-type")
    changed = cli.json("event-type", "update", "order.placed", "--deprecated")
    assert changed["deprecated"] is True
    assert cli.json("event-type", "get", "order.placed") == changed
    assert "archived" in cli.run("event-type", "delete", "order.placed").stdout
    assert get(api, "/api/v1/event-type/order.placed")["archived"] is True

    as_yaml = tmp_path / "spec.yaml"
    as_yaml.write_text(yaml.safe_dump(SPEC))
    dry = cli.run("event-type", "import", str(as_yaml), "--dry-run").stdout
    assert "would change 1" in dry and "shipment.sent" in dry
    assert api.get("/api/v1/event-type/shipment.sent").status_code == 404
    assert "changed 1" in cli.run("event-type", "import", str(as_yaml)).stdout
    assert get(api, "/api/v1/event-type/shipment.sent")["description"] == "A shipment left"
    as_json = tmp_path / "spec.json"
    as_json.write_text(json.dumps(SPEC).replace("A shipment left", "Shipped"))
    imported = cli.json("event-type", "import", str(as_json))
    assert imported["data"]["modified"] == ["shipment.sent"]
    assert get(api, "/api/v1/event-type/shipment.sent")["description"] == "Shipped"


def test_source_commands(cli: Cli, api: httpx.Client) -> None:
    made = cli.json(
        "source", "create", "--name", "GitHub", "--type", "github", "--uid", "gh",
        "--config", '{"secret": "gh-secret"}',
    )  # fmt: skip
    path = f"/ingest/api/v1/source/{made['id']}"
    assert made == get(api, path)
    listed = cli.run("source", "list").stdout
    assert made["id"] in listed and made["ingestUrl"] in listed
    assert cli.json("source", "list") == get(api, "/ingest/api/v1/source")
    assert cli.json("source", "get", "gh") == get(api, path)
    assert cli.json("source", "update", "gh", "--name", "GH")["name"] == "GH"
    rotated = cli.json("source", "rotate-token", "gh")
    assert rotated["ingestUrl"] != made["ingestUrl"]
    assert cli.json("source", "requests", "gh") == get(api, f"{path}/request")
    assert "deleted" in cli.run("source", "delete", "gh").stdout
    assert api.get(path).status_code == 404


def test_recover_follows_its_task_to_the_end(
    cli: Cli, api: httpx.Client, server: ThreadedServer
) -> None:
    app = cli.json("app", "create", "--name", "Rec", "--uid", "rec")
    ep = cli.json("endpoint", "create", "rec", "--url", f"{server.receiver}/fail")
    msg = cli.json("message", "create", "rec", "--event-type", "a.b", "--payload", "{}")
    by_msg = f"/api/v1/app/{app['id']}/attempt/msg/{msg['id']}"
    eventually(lambda: get(api, by_msg)["data"], "the failing attempt")
    eventually(lambda: get(api, f"/api/v1/app/rec/msg/{msg['id']}/endpoint")["data"][0][
        "status"] == 2, "the delivery failed for good")  # fmt: skip

    finished = cli.json("endpoint", "recover", "rec", ep["id"], "--since", an_hour_ago())
    assert finished["status"] == "finished" and finished["data"]["done"] is True
    assert finished["data"]["messagesQueued"] == 1
    assert finished == get(api, f"/api/v1/background-task/{finished['id']}")

    shown = cli.run("endpoint", "replay", "rec", ep["id"], "--since", an_hour_ago()).stdout
    assert "endpoint.replay" in shown and "finished" in shown

    backfill = cli.json(
        "endpoint", "bulk-replay", "rec", ep["id"], "--since", an_hour_ago(),
        "--event-type", "a.b", "--event-type", "c.d",
    )  # fmt: skip
    assert backfill["status"] == "finished" and backfill["task"] == "endpoint.bulk-replay"
    assert backfill["data"]["messagesQueued"] == 1
    none_match = cli.json(
        "endpoint", "bulk-replay", "rec", ep["id"], "--since", an_hour_ago(), "--event-type", "x.y"
    )
    assert none_match["data"]["messagesQueued"] == 0

    started = cli.json(
        "endpoint", "recover", "rec", ep["id"], "--since", an_hour_ago(), "--no-wait"
    )
    assert started["status"] == "running" and "data" not in started
    waited = cli.json("task", "get", started["id"], "--wait")
    assert waited["status"] == "finished"
    assert started["id"] in cli.run("task", "list").stdout
    assert cli.json("task", "list") == get(api, "/api/v1/background-task")


def test_seed_makes_a_demo_once(cli: Cli, api: httpx.Client, server: ThreadedServer) -> None:
    url = f"{server.receiver}/ok"
    first = cli.run("seed", "--endpoint-url", url).stdout
    assert "created" in first and "exists" not in first
    made = cli.json("seed", "--endpoint-url", url)
    assert {row["created"] for row in made} == {False}
    kinds = [row["kind"] for row in made]
    assert kinds.count("event type") == 3 and kinds.count("message") == 3
    endpoints = get(api, "/api/v1/app/demo/endpoint")["data"]
    assert [e["url"] for e in endpoints] == [url]
    assert len(get(api, "/api/v1/app/demo/msg")["data"]) == 3


def test_names_are_shown_as_written_never_as_markup(cli: Cli) -> None:
    name = "[bold]Acme[/bold] [/oops]"
    cli.run("app", "create", "--name", name, "--uid", "markup")
    assert name in cli.run("app", "get", "markup").stdout
    assert name in cli.run("app", "list").stdout


def test_a_validation_error_names_the_field(cli: Cli) -> None:
    cli.run("app", "create", "--name", "Val", "--uid", "val")
    result = cli.run("endpoint", "create", "val", "--url", "ftp://example.invalid/x", ok=False)
    assert result.stderr.startswith("error: validation: url: ")


def test_application_arguments_complete_from_the_server(cli: Cli) -> None:
    made = cli.json("app", "create", "--name", "Completed", "--uid", "completed-app")
    env = {**cli.env, "_HOOKLINE_COMPLETE": "bash_complete"}
    env |= {"COMP_WORDS": "hookline endpoint list comp", "COMP_CWORD": "3"}
    result = CliRunner().invoke(main, [], prog_name="hookline", env=env)
    assert "plain,completed-app" in result.stdout.splitlines()
    env["COMP_WORDS"] = "hookline endpoint list app_"
    result = CliRunner().invoke(main, [], prog_name="hookline", env=env)
    assert f"plain,{made['id']}" in result.stdout.splitlines()


def test_ids_stay_whole_on_a_narrow_terminal(cli: Cli) -> None:
    made = cli.json("app", "create", "--name", "A rather long application name", "--uid", "narrow")
    assert made["id"] in cli.run("app", "list", COLUMNS="40").stdout
    eps = cli.run("endpoint", "list", "narrow", COLUMNS="40")
    assert "endpoints of narrow" in eps.stdout
