"""A credential scoped to application A (a portal token, an API key with an ``appId``,
an integration key) reaches nothing of application B, and a portal token only the routes
its capabilities open. Routes are walked from the app itself, so a route added later
without a rule is covered (and refused) too."""

from __future__ import annotations

import re
from typing import Any, cast

import httpx
import pytest
from api_helpers import TOKEN, create_app_record, create_endpoint_record, create_message_record
from portal_helpers import api_routes, bearer, portal_access

from hookline.api import ApiContext, create_app
from hookline.api.scoped_routes import compile_rules, match
from hookline.store.base import Store

PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/ping"),
    ("GET", "/api/v1/health/ready"),
}
CATALOGUE = {
    ("GET", "/api/v1/event-type"),
    ("GET", "/api/v1/event-type/{event_type_name}"),
    ("GET", "/api/v1/environment/settings"),
}
WHOAMI = ("GET", "/api/v1/auth/whoami")
LOGOUT = ("POST", "/api/v1/auth/logout")
UPSERT = ("PUT", "/api/v1/app/{app_id}/endpoint/{endpoint_id}")
# a body most write routes accept, so a refusal is the gate's and not validation's
BODY = {
    "url": "https://example.com/portal-write",
    "name": "written",
    "eventType": "user.created",
    "payload": {"written": True},
    "headers": {"X-Written": "yes"},
    "since": "2020-01-01T00:00:00Z",
    "after": "2020-01-01T00:00:00Z",
    "type": "generic-webhook",
}


async def _world(client: httpx.AsyncClient) -> dict[str, str]:
    """Applications A and B with an endpoint each; B has a message, a task and an
    integration, and there are an event type, a source, an operational endpoint and a
    server-wide key."""
    a = await create_app_record(client, uid="alpha")
    b = await create_app_record(client, uid="beta")
    ea = await create_endpoint_record(client, a["id"], url="https://example.com/a-hook")
    eb = await create_endpoint_record(client, b["id"], url="https://example.com/b-hook")
    resp = await client.post(
        "/api/v1/event-type", json={"name": "user.created", "description": "u"}
    )
    assert resp.status_code == 201, resp.text
    mb = await create_message_record(client, b["id"])
    task = await client.post(
        f"/api/v1/app/{b['id']}/endpoint/{eb['id']}/recover", json={"since": "2020-01-01T00:00:00Z"}
    )
    assert task.status_code == 202, task.text
    source = await client.post(
        "/ingest/api/v1/source", json={"name": "src", "type": "generic-webhook"}
    )
    assert source.status_code == 201, source.text
    op = await client.post(
        "/api/v1/operational-webhook/endpoint", json={"url": "https://example.com/o"}
    )
    assert op.status_code == 201, op.text
    # keys A's credential must not see or change: B's integration, a server-wide key
    integ = await client.post(f"/api/v1/app/{b['id']}/integration", json={"name": "b"})
    assert integ.status_code == 201, integ.text
    key = await client.post("/api/v1/auth/api-token", json={"name": "server"})
    assert key.status_code == 201, key.text
    return {
        "integ": integ.json()["id"],
        "key": key.json()["id"],
        "a": a["id"],
        "b": b["id"],
        "ea": ea["id"],
        "eb": eb["id"],
        "mb": mb["id"],
        "task": task.json()["id"],
        "source": source.json()["id"],
        "op": op.json()["id"],
    }


async def _snapshot(client: httpx.AsyncClient, w: dict[str, str]) -> list[Any]:
    """Everything of B (and the server-wide objects) as the admin sees it."""
    b, eb = f"/api/v1/app/{w['b']}", f"/api/v1/app/{w['b']}/endpoint/{w['eb']}"
    paths = [
        "/api/v1/app",
        b,
        f"{b}/endpoint",
        f"{eb}/secret",
        f"{eb}/headers",
        f"{b}/msg",
        f"{b}/attempt/endpoint/{w['eb']}",
        f"/api/v1/background-task/{w['task']}",
        "/api/v1/event-type",
        "/ingest/api/v1/source",
        f"/ingest/api/v1/source/{w['source']}/endpoint",
        "/api/v1/operational-webhook/endpoint",
        f"/api/v1/operational-webhook/endpoint/{w['op']}/secret",
        f"{b}/integration",
        "/api/v1/auth/api-token",
    ]
    out = []
    for path in paths:
        resp = await client.get(path, params={"limit": 250})
        assert resp.status_code == 200, (path, resp.text)
        out.append(resp.json())
    return out


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: values.get(m.group(1), "x_unknown"), template)


def _values(w: dict[str, str], app: str) -> dict[str, str]:
    return {
        "app_id": w[app],
        "endpoint_id": w["eb"],
        "msg_id": w["mb"],
        "attempt_id": "atmpt_0000000000000000000000000",
        "task_id": w["task"],
        "event_type_name": "user.created",
        "source_id": w["source"],
        "request_id": "req_0000000000000000000000000",
        "integ_id": w["integ"],
        "key_id": w["key"],
    }


@pytest.fixture
async def api(store: Store) -> httpx.AsyncClient:
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h.test")


async def _credential(client: httpx.AsyncClient, kind: str, app_id: str) -> str:
    """A credential of application A, used once (a key's first use is recorded)."""
    if kind == "portal":
        return (await portal_access(client, "alpha"))["token"]
    if kind == "api_key":
        resp = await client.post("/api/v1/auth/api-token", json={"name": "a", "appId": app_id})
        token: str = resp.json()["token"]
    else:
        resp = await client.post(f"/api/v1/app/{app_id}/integration", json={"name": "a"})
        token = resp.json()["key"]
    assert resp.status_code == 201, resp.text
    used = await client.get("/api/v1/auth/whoami", headers=bearer(token))
    assert used.json()["appId"] == app_id, used.text
    return token


@pytest.mark.parametrize("kind", ["portal", "api_key", "integration"])
async def test_every_route_refuses_another_applications_objects(
    client: httpx.AsyncClient, store: Store, kind: str
) -> None:
    w = await _world(client)
    token = await _credential(client, kind, w["a"])
    before = await _snapshot(client, w)
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    routes = list(api_routes(app))
    assert len(routes) > 60 and ("POST", "/api/v1/app/{app_id}/msg") in routes
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://h.test", headers=bearer(token)
    ) as portal:
        walked = 0
        for method, template in routes:
            if (method, template) in PUBLIC or (method, template) in (LOGOUT, WHOAMI):
                continue
            if not template.startswith(("/api/", "/ingest/api/")):
                continue  # the docs: public, no data
            # B's objects, by B's id; then B's objects under A's own id
            for app_key in ("b", "a"):
                params = set(re.findall(r"{(\w+)", template))
                if app_key == "a" and ("app_id" not in params or params == {"app_id"}):
                    continue
                path = _fill(template, _values(w, app_key))
                resp = await portal.request(method, path, json=BODY)
                walked += 1
                if (method, template) in CATALOGUE:
                    assert resp.status_code == 200, (method, path, resp.text)
                    continue
                if app_key == "a" and (method, template) == UPSERT:
                    # Svix's upsert: B's id names nothing in A, so A gets a new endpoint
                    assert resp.status_code == 201, resp.text
                    assert resp.json()["id"] != w["eb"]
                    continue
                assert resp.status_code in (403, 404), (method, path, resp.status_code, resp.text)
                body = resp.json()
                assert set(body) == {"code", "detail"}, body
                assert "b-hook" not in resp.text
    assert walked > 70
    assert await _snapshot(client, w) == before
    # in A, only the upsert wrote: a new endpoint, not B's
    a_endpoints = (await client.get(f"/api/v1/app/{w['a']}/endpoint")).json()["data"]
    assert sorted(e["url"] for e in a_endpoints) == [
        "https://example.com/a-hook",
        BODY["url"],
    ]


async def test_the_same_answer_whether_or_not_the_object_exists(client: httpx.AsyncClient) -> None:
    w = await _world(client)
    token = (await portal_access(client, "alpha"))["token"]
    for ref in (w["b"], "beta"):
        there = await client.get(f"/api/v1/app/{ref}/endpoint", headers=bearer(token))
        missing = await client.get(f"/api/v1/app/{ref}x/endpoint", headers=bearer(token))
        assert there.status_code == missing.status_code == 404
        assert there.json()["detail"].replace(ref, "") == missing.json()["detail"].replace(
            ref + "x", ""
        )


# What each capability opens, written out here rather than taken from the rules.
E = "/api/v1/app/{app_id}/endpoint/{endpoint_id}"
READS = {
    ("GET", "/api/v1/app/{app_id}"),
    ("GET", "/api/v1/app/{app_id}/endpoint"),
    ("GET", E),
    ("GET", E + "/headers"),
    ("GET", E + "/stats"),
    ("GET", E + "/attempt-stats"),
    ("GET", "/api/v1/app/{app_id}/stats/attempts"),
    ("GET", "/api/v1/stats/app/{app_id}/attempt"),
    ("GET", "/api/v1/app/{app_id}/msg"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}"),
    ("GET", "/api/v1/app/{app_id}/attempt/msg/{msg_id}"),
    ("GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/raw"),
    ("GET", "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}/count"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/headers"),
    ("GET", E + "/msg"),
    ("GET", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint"),
    ("GET", "/api/v1/background-task/{task_id}"),
    ("GET", "/api/v1/app/{app_id}/poller/{sink_id}"),
    ("GET", "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}"),
    ("POST", "/api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek"),
    ("GET", "/api/v1/app/{app_id}/events"),
    *CATALOGUE,
    LOGOUT,
    WHOAMI,
}
SECRET = {("GET", E + "/secret")}
ROTATE = {("POST", E + "/secret/rotate")}
MANAGE = {
    ("POST", "/api/v1/app/{app_id}/endpoint"),
    ("PUT", E),
    ("PATCH", E),
    ("DELETE", E),
    ("PUT", E + "/headers"),
    ("PATCH", E + "/headers"),
}
ATTEMPTS = {
    ("POST", "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"),
    ("POST", E + "/recover"),
    ("POST", E + "/replay-missing"),
    ("POST", E + "/bulk-replay"),
    ("POST", E + "/send-example"),
}
OPENS: dict[str, set[tuple[str, str]]] = {
    "ViewBase": READS,
    "ViewEndpointSecret": READS | SECRET,
    "ManageEndpointSecret": READS | SECRET | ROTATE,
    "ManageTransformations": READS,
    "CreateAttempts": READS | ATTEMPTS,
    "ManageEndpoint": READS | SECRET | ROTATE | MANAGE,
}


@pytest.mark.parametrize(
    ("grant", "opens"),
    [({"capabilities": [cap]}, OPENS[cap]) for cap in OPENS]
    + [
        ({}, READS | SECRET | ROTATE | MANAGE | ATTEMPTS),
        ({"readOnly": True}, READS | SECRET),
        ({"readOnly": True, "capabilities": ["ViewBase"]}, READS),
    ],
    ids=[*OPENS, "all", "read-only", "read-only-base"],
)
async def test_each_capability_opens_exactly_its_routes(
    client: httpx.AsyncClient, store: Store, grant: dict[str, Any], opens: set[tuple[str, str]]
) -> None:
    a = await create_app_record(client, uid="alpha")
    task = await client.post(
        f"/api/v1/app/{a['id']}/endpoint/"
        f"{(await create_endpoint_record(client, a['id']))['id']}/recover",
        json={"since": "2020-01-01T00:00:00Z"},
    )
    token = (await portal_access(client, "alpha", **grant))["token"]
    # objects that do not exist, within A: an opened route answers 404/422, not 403
    values = {
        "app_id": a["id"],
        "endpoint_id": "ep_missing",
        "msg_id": "msg_missing",
        "attempt_id": "atmpt_missing",
        "task_id": task.json()["id"],
        "event_type_name": "missing",
    }
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://h.test", headers=bearer(token)
    ) as portal:
        for method, template in api_routes(app):
            if (method, template) in PUBLIC or (method, template) == LOGOUT:
                continue
            if not template.startswith(("/api/", "/ingest/api/")):
                continue
            resp = await portal.request(method, _fill(template, values), json={})
            if (method, template) in opens:
                assert resp.status_code not in (401, 403), (method, template, resp.text)
            else:
                assert resp.status_code == 403, (method, template, resp.status_code, resp.text)
                assert resp.json()["code"] == "forbidden"
        resp = await portal.post("/api/v1/auth/logout")
        assert resp.status_code == 204


def test_rules_name_real_routes_and_no_path_slips_to_another_route() -> None:
    """The gate matches paths against the rules' templates: a route another template
    also matches (a static segment where a rule has a parameter) would pass the gate
    under the other route's rule. Every route's own path must match its own rule or
    none; and every rule must name a route that exists."""
    app = create_app(ApiContext(store=cast(Store, None), admin_token=TOKEN))
    routes = set(api_routes(app))
    rules = compile_rules()
    for rule in rules:
        assert (rule.method, rule.template) in routes, rule.template
    for method, template in routes:
        path = re.sub(r"{\w+}", "x1", template)
        found = match(rules, method, path)
        assert found is None or found.rule.template == template, (method, template)
    # the check itself sees a shadowing route
    shadow = "/api/v1/app/{app_id}/msg/search"
    found = match(rules, "GET", re.sub(r"{\w+}", "x1", shadow))
    assert found is not None and found.rule.template != shadow
