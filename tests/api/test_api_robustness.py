"""Hostile-but-valid JSON must never make the API answer 5xx (or a non-JSON error body).

The targeted cases are JSON that parses fine but that the storage encoder (orjson) cannot
write back: integers outside 64 bits and lone UTF-16 surrogate escapes (``"\\ud800"``).
Then a Hypothesis test throws random JSON bodies and query values at every route on
records that exist, so validation and store code run, not just the 404 path.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from api_helpers import create_app_record, create_endpoint_record, list_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LONE_SURROGATE = '"\\ud800"'  # valid JSON text; decodes to a str that is not valid UTF-8
TOO_BIG = str(2**64)  # valid JSON number; Python parses it, orjson cannot dump it


@pytest.fixture
async def refs(server: httpx.AsyncClient) -> dict[str, str]:
    """An app ``acme`` with an endpoint ``hook``; paths below use their ids."""
    app_id = (await create_app_record(server, uid="acme"))["id"]
    ep_id = (await create_endpoint_record(server, "acme", uid="hook"))["id"]
    return {"app": app_id, "ep": ep_id}


def assert_handled(resp: httpx.Response) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.text[:300])
    if resp.status_code == 204:
        return
    body = resp.json()  # every other answer, success or error, is JSON
    if resp.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("code"), str), body


BIG, BAD_STR = "<big>", "<bad-str>"
MSG, EP = "/api/v1/app/acme/msg", "/api/v1/app/acme/endpoint"
RAW_CASES = [
    pytest.param("POST", MSG, '{"eventType": "a.b", "payload": {"n": <big>}}', id="msg-big-int"),
    pytest.param("POST", MSG, '{"eventType": "a.b", "payload": {"n": -<big>}}', id="msg-neg-int"),
    pytest.param("POST", MSG, '{"eventType": "a.b", "payload": {"s": <bad-str>}}', id="msg-str"),
    pytest.param("POST", MSG, '{"eventType": "a.b", "payload": {<bad-str>: 1}}', id="msg-key"),
    pytest.param("POST", "/api/v1/app", '{"name": "n", "metadata": {<bad-str>: "v"}}', id="app"),
    pytest.param(
        "POST",
        "/api/v1/event-type",
        '{"name": "e.a", "description": "", "schemas": {"n": <big>}}',
        id="event-type-post",
    ),
    pytest.param(
        "PUT",
        "/api/v1/event-type/e.b",
        '{"description": "", "schemas": {"s": <bad-str>}}',
        id="event-type-put",
    ),
    pytest.param(
        "POST", EP, '{"url": "https://e.x/h", "headers": {"X-A": <bad-str>}}', id="endpoint"
    ),
    pytest.param("PATCH", EP + "/hook/headers", '{"headers": {"X-A": <bad-str>}}', id="headers"),
]


@pytest.mark.parametrize(("method", "path", "raw"), RAW_CASES)
async def test_unencodable_json_is_not_a_500(
    server: httpx.AsyncClient, refs: dict[str, str], method: str, path: str, raw: str
) -> None:
    raw = raw.replace(BIG, TOO_BIG).replace(BAD_STR, LONE_SURROGATE)
    json.loads(raw)  # the request body itself is valid JSON
    assert_handled(await server.request(method, path, content=raw.encode()))


async def test_big_but_64_bit_integers_round_trip(
    server: httpx.AsyncClient, refs: dict[str, str]
) -> None:
    payload = {"max": 2**63 - 1, "min": -(2**63), "neg": -1, "float": 1.5}
    resp = await server.post("/api/v1/app/acme/msg", json={"eventType": "a.b", "payload": payload})
    assert resp.status_code == 202, resp.text
    got = await server.get(f"/api/v1/app/acme/msg/{resp.json()['id']}")
    assert got.json()["payload"] == payload


async def test_message_tags_follow_the_svix_pattern(
    server: httpx.AsyncClient, refs: dict[str, str]
) -> None:
    """Svix: tags items match ``^[a-zA-Z0-9\\-_./\\\\#]+$`` (at most 128 chars)."""
    for tag in ("has space", "emoji-\U0001f642", "semi;colon"):
        resp = await server.post(
            "/api/v1/app/acme/msg", json={"eventType": "a.b", "payload": {}, "tags": [tag]}
        )
        assert resp.status_code == 422, (tag, resp.status_code, resp.text)
    assert await list_all(server, "/api/v1/app/acme/msg") == []


# ----- random bodies on live records --------------------------------------------------

FIELDS = [
    "name", "uid", "throttleRate", "rateLimit", "metadata", "description", "archived",
    "deprecated", "schemas", "url", "disabled", "eventTypes", "filterTypes", "channels",
    "secret", "headers", "deleteHeaders", "key", "gracePeriodSeconds", "eventType",
    "payload", "eventId", "tags", "application",
]  # fmt: skip
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SCALARS = st.none() | st.booleans() | INT64 | st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    SCALARS | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=12,
)
# Values that pass validation for some field, so some random bodies get past it.
PLAUSIBLE = st.sampled_from(
    [
        "https://example.com/h", "http://[::1]:8080/x", "whsec_" + "A" * 32, "a.b", "Name",
        ["a.b"], ["ch:1"], {"k": "v"}, {"X-H": "v"}, {"X-H": None}, {"n": 1}, 1, 0, 65535,
        True, False, None, "", "2030-01-01T00:00:00Z", {"name": "n", "uid": "new-app"},
    ]
)  # fmt: skip
VALUES = PLAUSIBLE | JSON
BODIES = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6) | JSON
APP = "/api/v1/app/{app}"
EP = "/api/v1/app/{app}/endpoint/{ep}"
ROUTES = [
    ("POST", "/api/v1/app"),
    ("PUT", APP),
    ("PATCH", APP),
    ("POST", "/api/v1/event-type"),
    ("PUT", "/api/v1/event-type/e.fuzz"),
    ("PATCH", "/api/v1/event-type/e.fuzz"),
    ("POST", APP + "/endpoint"),
    ("PUT", EP),
    ("PATCH", EP),
    ("POST", EP + "/secret/rotate"),
    ("PUT", EP + "/headers"),
    ("PATCH", EP + "/headers"),
    ("POST", APP + "/msg"),
]
LISTS = [
    "/api/v1/app",
    "/api/v1/event-type",
    APP + "/endpoint",
    APP + "/msg",
    "/api/v1/app/{app}/attempt/endpoint/{ep}",
]
QUERY_KEYS = ["limit", "iterator", "order", "before", "after", "event_types", "channel",
              "status", "with_content", "include_archived", "get_if_exists", "expunge"]  # fmt: skip


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(route=st.sampled_from(ROUTES), body=BODIES)
async def test_random_bodies_never_5xx(
    server: httpx.AsyncClient, refs: dict[str, str], route: tuple[str, str], body: Any
) -> None:
    method, path = route
    assert_handled(await server.request(method, path.format(**refs), json=body))


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(LISTS),
    query=st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=30), max_size=4),
)
async def test_random_list_queries_never_5xx(
    server: httpx.AsyncClient, refs: dict[str, str], path: str, query: dict[str, str]
) -> None:
    assert_handled(await server.get(path.format(**refs), params=query))


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_invalid_json(client: httpx.AsyncClient, number: str) -> None:
    app = (await client.post("/api/v1/app", json={"name": "n"})).json()
    raw = '{"eventType": "a.b", "payload": {"n": NUMBER}}'.replace("NUMBER", number)
    resp = await client.post(
        f"/api/v1/app/{app['id']}/msg",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "invalid_json"
    listed = await client.get(f"/api/v1/app/{app['id']}/msg")
    assert listed.json()["data"] == []


async def test_body_that_is_not_utf8_is_invalid_json(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/app",
        content=b'{"name": "\xff\xfe\xfa"}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == "invalid_json"
