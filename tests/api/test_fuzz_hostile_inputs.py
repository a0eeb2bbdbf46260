"""Fuzz: hostile bodies and URLs against every write route, in process.

Every request here must be refused with a 4xx carrying ``{"code", "detail"}``, and must
leave the database exactly as it was: a fingerprint of every table is taken before and
after each request. The routes run against a real app on a real SQLite file, seeded with
an application, an endpoint, a message, an event type and an operational endpoint so
that the handlers get past their 404s. Example counts are fixed and derandomized, so the
suite is bounded in time and repeatable.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from api_helpers import BASE, TOKEN, make_settings
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from hookline import ids, runtime
from hookline.api import ApiContext, create_app
from hookline.sources import InboundRequest, Verdict
from hookline.store.base import Store

MARK = "\u2603MARK\u2603"  # stands for the hostile value inside a valid body
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Seeded:
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient
    store: Store
    db_path: Path
    app_id: str
    endpoint_id: str
    msg_id: str
    op_endpoint_id: str
    source_id: str
    source_endpoint_id: str
    request_id: str
    sink_id: str
    key_id: str
    integ_id: str

    def request(self, method: str, path: str, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return self.loop.run_until_complete(
            self.client.request(method, path.format(**vars(self)), content=body, headers=headers)
        )

    def fingerprint(self) -> str:
        """Every row of every table: a refused request must change none of them."""
        digest = hashlib.sha256()
        with sqlite3.connect(self.db_path) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                digest.update(table.encode())
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                    digest.update(repr(row).encode())
        return digest.hexdigest()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One app for the whole module: Hypothesis runs many examples per test."""
    data_dir = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    store = runtime.open_store(make_settings(data_dir))
    loop.run_until_complete(store.open())
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    def ok(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = loop.run_until_complete(client.request(method, path, json=body))
        assert resp.status_code < 300, (path, resp.status_code, resp.text)
        out: dict[str, Any] = resp.json()
        return out

    app_id = ok("POST", "/api/v1/app", {"name": "Fuzz", "uid": "fuzz"})["id"]
    ok("POST", "/api/v1/event-type", {"name": "fuzz.event", "description": "x"})
    endpoint_id = ok("POST", f"/api/v1/app/{app_id}/endpoint", {"url": "https://example.com/hook"})[
        "id"
    ]
    msg_id = ok(
        "POST", f"/api/v1/app/{app_id}/msg", {"eventType": "fuzz.event", "payload": {"a": 1}}
    )["id"]
    sink_id = ok("POST", f"/api/v1/app/{app_id}/endpoint", {"url": "poll://"})["id"]
    op_endpoint_id = ok(
        "POST", "/api/v1/operational-webhook/endpoint", {"url": "https://example.com/ops"}
    )["id"]
    source = ok(
        "POST",
        "/ingest/api/v1/source",
        {"name": "Fuzz in", "uid": "fuzz-src", "type": "github", "config": {"secret": "s"}},
    )
    source_endpoint_id = ok(
        "POST", f"/ingest/api/v1/source/{source['id']}/endpoint", {"url": "https://example.com/s"}
    )["id"]
    request_id = loop.run_until_complete(received(store, source["id"]))
    key_id = ok("POST", "/api/v1/auth/api-token", {"name": "fuzz"})["id"]
    integ_id = ok("POST", f"/api/v1/app/{app_id}/integration", {"name": "fuzz"})["id"]
    try:
        yield Seeded(
            loop=loop,
            client=client,
            store=store,
            db_path=data_dir / "hookline.db",
            app_id=app_id,
            endpoint_id=endpoint_id,
            msg_id=msg_id,
            op_endpoint_id=op_endpoint_id,
            source_id=source["id"],
            source_endpoint_id=source_endpoint_id,
            request_id=request_id,
            sink_id=sink_id,
            key_id=key_id,
            integ_id=integ_id,
        )
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(store.close())
        loop.close()


async def received(store: Store, source_id: str) -> str:
    """One stored inbound request, so the replay route gets past its 404."""
    now = int(time.time() * 1000)
    request = InboundRequest(
        id=ids.new_id("req", now),
        source_id=source_id,
        method="POST",
        path="/in/{token}",
        query="",
        headers={},
        body=b"{}",
        verdict=Verdict.REJECTED,
        status_code=401,
        received_at=now,
        reason="fuzz",
    )
    return (await store.intake(request, now)).id


APP = "/api/v1/app/{app_id}"
EP = APP + "/endpoint/{endpoint_id}"
OP_EP = "/api/v1/operational-webhook/endpoint"
SINCE = {"since": "2026-01-01T00:00:00Z"}
SRC = "/ingest/api/v1/source/{source_id}"
SRC_EP = SRC + "/endpoint/{source_endpoint_id}"
SOURCE_BODY = {"name": "nn", "type": "github", "config": {"secret": "s"}}


@dataclass(frozen=True)
class Route:
    """A write route, a valid body for it, and its string fields with their length caps."""

    method: str
    path: str
    body: dict[str, Any]
    strings: tuple[tuple[str, int], ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINT_BODY = {"url": "https://example.com/h", "description": "d", "uid": "ep-fuzz"}
ENDPOINT_STRINGS = (("description", 8192), ("uid", 256))
KEYS = "/api/v1/auth/api-token"
INTEG = APP + "/integration"
ROUTES = [
    Route("POST", "/api/v1/app", {"name": "n", "uid": "u-new"}, (("name", 1024), ("uid", 256))),
    Route("PUT", APP, {"name": "n", "uid": "fuzz"}, (("name", 1024), ("uid", 256))),
    Route("PATCH", APP, {"name": "n"}, (("name", 1024),)),
    Route(
        "POST",
        "/api/v1/event-type",
        {"name": "new.type", "description": "d"},
        (("name", 256), ("description", 8192)),
    ),
    Route("PUT", "/api/v1/event-type/fuzz.event", {"description": "d"}, (("description", 8192),)),
    Route("PATCH", "/api/v1/event-type/fuzz.event", {"description": "d"}, (("description", 8192),)),
    Route("POST", APP + "/endpoint", ENDPOINT_BODY, ENDPOINT_STRINGS),
    Route("PUT", EP, ENDPOINT_BODY, ENDPOINT_STRINGS),
    Route("PATCH", EP, {"description": "d"}, (("description", 8192),)),
    Route("POST", EP + "/secret/rotate", {"key": None}, ()),
    Route("PUT", EP + "/headers", {"headers": {"X-A": "b"}}, ()),
    Route("PATCH", EP + "/headers", {"headers": {"X-A": "b"}}, ()),
    Route(
        "POST",
        APP + "/msg",  # the plain-ASGI fast path
        {"eventType": "fuzz.event", "eventId": "e-new", "payload": {"k": "v"}},
        (("eventType", 256), ("eventId", 256)),
    ),
    Route(
        "POST",
        APP + "/msg?with_content=true&via=router",  # an odd query string: the FastAPI route
        {"eventType": "fuzz.event", "eventId": "e-new", "payload": {"k": "v"}},
        (("eventType", 256), ("eventId", 256)),
    ),
    Route("POST", APP + "/msg/{msg_id}/endpoint/{endpoint_id}/resend", {}, ()),
    Route("POST", EP + "/recover", SINCE, ()),
    Route("POST", EP + "/replay-missing", SINCE, ()),
    Route("POST", EP + "/bulk-replay", SINCE, ()),
    Route("POST", OP_EP, {"url": "https://example.com/o", "description": "d"}, ()),
    Route("PUT", OP_EP + "/{op_endpoint_id}", {"url": "https://example.com/o"}, ()),
    Route("POST", OP_EP + "/{op_endpoint_id}/secret/rotate", {"key": None}, ()),
    Route("PUT", OP_EP + "/{op_endpoint_id}/headers", {"headers": {"X-A": "b"}}, ()),
    Route(
        "POST",
        "/ingest/api/v1/source",
        {**SOURCE_BODY, "uid": "src-new"},
        (("name", 256), ("uid", 60)),
    ),
    Route("PUT", SRC, {**SOURCE_BODY, "uid": "fuzz-src"}, (("name", 256), ("uid", 60))),
    Route("PATCH", SRC, {"name": "nn", "config": {"secret": "s2"}}, (("name", 256),)),
    Route("POST", SRC + "/token/rotate", {}, ()),
    Route("POST", SRC + "/dashboard", {"expiry": 3600}, ()),
    Route("POST", SRC + "/request/{request_id}/replay", {}, ()),
    Route("POST", SRC + "/endpoint", ENDPOINT_BODY, ENDPOINT_STRINGS),
    Route("PUT", SRC_EP, ENDPOINT_BODY, ENDPOINT_STRINGS),
    Route("POST", SRC_EP + "/secret/rotate", {"key": None}, ()),
    Route("PUT", SRC_EP + "/headers", {"headers": {"X-A": "b"}}, ()),
    Route("PATCH", SRC_EP + "/transformation", {"enabled": True}, ()),
    Route("POST", EP + "/send-example", {"eventType": "svix.ping"}, ()),
    Route(
        "PUT",
        "/api/v1/event-type/fuzz.event/retry-schedule",
        {"retrySchedule": [1, {"secs": 2, "nanos": 0}]},
        (),
    ),
    Route(
        "POST",
        "/api/v1/event-type/import/openapi",
        {"spec": {"openapi": "3.1.0", "webhooks": {}}, "dryRun": True},
        (),
    ),
    Route(
        "POST",
        "/api/v1/event-type/import/openapi",
        {"specRaw": "openapi: 3.1.0\nwebhooks: {}\n", "dryRun": True},
        (("specRaw", 4 * 1024 * 1024),),
    ),
    Route("POST", "/api/v1/event-type/export/openapi", {}, ()),
    Route(
        "POST",
        "/api/v1/auth/app-portal-access/{app_id}",
        {"expiry": 3600, "sessionId": "user_1", "capabilities": ["ViewBase"]},
        (),
    ),
    Route("POST", "/api/v1/auth/app/{app_id}/expire-all", {"expiry": 60}, ()),
    Route("POST", "/api/v1/auth/dashboard-access/{app_id}", {}, ()),
    Route("POST", "/api/v1/auth/logout", {}, ()),
    Route("POST", APP + "/poller/{sink_id}/consumer/c1/seek", {"after": SINCE["since"]}, ()),
    Route("POST", APP + "/msg/precheck/active", {"eventType": "fuzz.event"}, (("eventType", 256),)),
    Route("POST", APP + "/msg/bulk-expunge", {"ids": ["e-none"]}, ()),
    Route("POST", APP + "/msg/expunge-all-contents", {}, ()),
    Route(
        "POST",
        APP + "/msg?via=router",
        {"eventType": "fuzz.event", "payload": {}, "deliverAt": "2020-01-01T00:00:00Z"},
        (("eventType", 256),),
    ),
    Route("POST", KEYS, {"name": "k", "expiresAt": "2999-01-01T00:00:00Z"}, (("name", 256),)),
    Route("PUT", KEYS + "/{key_id}", {"name": "k"}, (("name", 256),)),
    Route("PATCH", KEYS + "/{key_id}", {"name": "k"}, (("name", 256),)),
    Route("POST", KEYS + "/{key_id}/expire", {"expiry": 60}, ()),
    Route("POST", INTEG, {"name": "i", "featureFlags": ["f"]}, (("name", 256),)),
    Route("PUT", INTEG + "/{integ_id}", {"name": "i"}, (("name", 256),)),
    Route("POST", INTEG + "/{integ_id}/key/rotate", {}, ()),
    Route("POST", "/api/v1/environment/export", {}, ()),
    Route(
        "POST",
        "/api/v1/environment/import",
        {
            "eventTypes": [{"name": "fuzz.event", "description": "d"}],
            "applications": [{"name": "n", "uid": "fuzz", "endpoints": [ENDPOINT_BODY]}],
        },
        (),
    ),
]
URL_ROUTES = [r for r in ROUTES if "url" in r.body]
BODY_ROUTES = [r for r in ROUTES if r.body]  # resend reads no body at all


def with_mark(body: dict[str, Any], field: str | None) -> bytes:
    """The valid body as JSON with MARK as the value of ``field`` (a new field if None)."""
    marked = dict(body)
    marked[field or "hostile"] = MARK
    return orjson.dumps(marked)


def splice(encoded: bytes, raw: bytes) -> bytes:
    """Put raw JSON text (or raw bytes) where the MARK string stands."""
    return encoded.replace(orjson.dumps(MARK), raw)


def nested(depth: int, kind: str) -> bytes:
    opener, closer = (b"[", b"]") if kind == "list" else (b'{"a":', b"}")
    return opener * depth + b"1" + closer * depth


PATTERNED = ("uid", "eventType", "eventId")  # identifiers: [a-zA-Z0-9-_.] only
INVALID_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf8\x88\x80\x80"]
HUGE_NUMBERS = [b"1e400", b"-1e999", b"NaN", b"Infinity", b"-Infinity", b"1" * 5000, b"1" * 25]


@st.composite
def hostile_body(draw: st.DrawFn) -> tuple[Route, str, bytes]:
    route = draw(st.sampled_from(BODY_ROUTES))
    fields: list[str | None] = list(route.body)
    kind = draw(
        st.sampled_from(
            ["invalid_utf8", "deep", "huge_number", "nul", "duplicate_key", "oversized"]
        )
    )
    if kind == "oversized" and not route.strings:
        kind = "deep"
    strict = [n for n in fields if n in PATTERNED or (n == "name" and "event-type" in route.path)]
    if kind == "nul" and not strict:
        kind = "duplicate_key"
    if kind == "invalid_utf8":
        field = draw(st.sampled_from(fields))
        raw = b'"a' + draw(st.sampled_from(INVALID_UTF8)) + b'b"'
        return route, kind, splice(with_mark(route.body, field), raw)
    if kind == "deep":
        where = "payload" if "payload" in route.body else draw(st.sampled_from(fields))
        raw = nested(draw(st.integers(1000, 20000)), draw(st.sampled_from(["list", "dict"])))
        return route, kind, splice(with_mark(route.body, where), raw)
    if kind == "huge_number":
        where = "payload" if "payload" in route.body else draw(st.sampled_from(fields))
        number = draw(st.sampled_from(HUGE_NUMBERS))
        raw = b'{"n":' + number + b"}" if where == "payload" else number
        return route, kind, splice(with_mark(route.body, where), raw)
    if kind == "nul":
        field = draw(st.sampled_from(strict))
        value = draw(st.sampled_from(["a\u0000b", "\u0000", "abc\u0000"]))
        return route, kind, orjson.dumps({**route.body, field: value})
    if kind == "duplicate_key":
        key = draw(st.sampled_from(list(route.body) or ["x"]))
        encoded = orjson.dumps(route.body or {"x": 1})
        first = orjson.dumps({key: (route.body or {"x": 1})[key]})[1:-1]
        return route, kind, encoded[:-1] + (b"," if len(encoded) > 2 else b"") + first + b"}"
    field, cap = draw(st.sampled_from(route.strings))
    size = cap + draw(st.integers(1, 4096))
    return route, kind, orjson.dumps({**route.body, field: "a" * size})


def assert_refused(seeded: Seeded, route: Route, resp: httpx.Response, before: str) -> None:
    assert 400 <= resp.status_code < 500, (str(route), resp.status_code, resp.text[:300])
    assert resp.status_code not in (401, 404, 405), (str(route), resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), str), body
    assert "detail" in body, body
    assert seeded.fingerprint() == before, f"{route} wrote to the database before refusing"


@FUZZ
@given(case=hostile_body())
def test_hostile_bodies_are_refused_and_write_nothing(
    seeded: Seeded, case: tuple[Route, str, bytes]
) -> None:
    route, kind, body = case
    note(f"{kind}: {body[:300]!r}")
    before = seeded.fingerprint()
    resp = seeded.request(route.method, route.path, body)
    assert_refused(seeded, route, resp, before)


def test_every_route_and_kind_is_covered() -> None:
    """The strategy reaches every route (a route added later must be added here too)."""
    from typing import cast

    doc = create_app(ApiContext(store=cast(Store, None), admin_token=TOKEN)).openapi()
    served = {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("post", "put", "patch")
    }
    names = {
        "{app_id}": "{app_id}",
        "{endpoint_id}": "{endpoint_id}",
        "{msg_id}": "{msg_id}",
        "{op_endpoint_id}": "{endpoint_id}",
        "{source_endpoint_id}": "{endpoint_id}",
        "fuzz.event": "{event_type_name}",
        "/consumer/c1/": "/consumer/{consumer_id}/",
        "{key_id}": "{key_id}",
        "{integ_id}": "{integ_id}",
    }
    covered = set()
    for route in ROUTES:
        path = route.path.split("?")[0]
        for ours, theirs in names.items():
            path = path.replace(ours, theirs)
        covered.add((route.method, path))
    assert served <= covered, sorted(served - covered)


# ----- hostile URLs ---------------------------------------------------------------------

IDNA_INVALID = [
    "http://xn--/",
    "http://xn--a.example/",
    "http://a.xn--zz/",
    "http://xn--ls8h.xn--/",
    "http://-a.example/",
    "http://a-.example/",
    "http://a..example/",
    "http://" + "a" * 64 + ".example/",
    "http://" + ".".join(["a" * 63] * 5) + "/",
    "http://ex\u00adample.com/",
    "http://exa mple.com/",
    "http://exa\u0000mple.com/",
    "http://exa%00mple.com/",
    "http://[::1/",
    "http://[fe80::1%25eth0]/",
    "http://a.com:99999/",
    "http://a.com:-1/",
    "http:///path",
    "http://",
    "http:\\\\example.com\\",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "gopher://example.com/",
    "//example.com/",
    "http://\ufeffexample.com/",
    "http://example.com\u3002evil/",
]
# Loopback and private addresses in their disguises: with the SSRF guard on (a context built
# without a policy) the API refuses them all with a 422. Nothing ever connects to them: this
# app has no worker. See tests/api/test_api_endpoint_ssrf.py for --dev and the settings.
DISGUISES = [
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://localhost./",
    "http://user:pass@127.0.0.1/",
    "http://example.com@127.0.0.1/",
    "http://%31%32%37.0.0.1/",
    "http://10.0.0.1/",
    "http://169.254.169.254/",
    "http://[fd00::1]/",
    "http://192.168.0.1/",
]
# Looks like an address, but the host is example.com (userinfo "127.0.0.1%2f"): left to
# the guard at connect time like any name.
LOOKALIKES = ["http://127.0.0.1%2f@example.com/"]


def url_text() -> st.SearchStrategy[str]:
    label = st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=70
    )
    hosts = st.lists(label, min_size=1, max_size=5).map(".".join)
    built = st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        st.one_of(hosts, st.sampled_from(["xn--", "xn--zz", "[::1]", "127.1", "0"])),
        st.sampled_from(["", ":0", ":80", ":65536", ":x"]),
        st.sampled_from(["", "/", "/a?b#c", "/\u0000"]),
    )
    return st.one_of(st.sampled_from(IDNA_INVALID + DISGUISES + LOOKALIKES), built)


@FUZZ
@given(route=st.sampled_from(URL_ROUTES), url=url_text())
def test_hostile_urls_never_fail_the_server(seeded: Seeded, route: Route, url: str) -> None:
    note(url)
    before = seeded.fingerprint()
    fields = {**route.body, "url": url}
    if "uid" in fields:
        fields["uid"] = None  # a created endpoint must not collide with the next one
    body = orjson.dumps(fields)
    resp = seeded.request(route.method, route.path, body)
    assert resp.status_code < 500, (str(route), url, resp.status_code, resp.text[:300])
    if resp.status_code >= 400:
        assert_refused(seeded, route, resp, before)
    if url in IDNA_INVALID or url in DISGUISES:
        assert resp.status_code == 422, (str(route), url, resp.status_code, resp.text[:300])


@pytest.mark.parametrize("url", DISGUISES)
def test_every_disguise_is_refused_on_every_url_route(seeded: Seeded, url: str) -> None:
    """Sampling may miss a pair above; here every disguise meets every URL route."""
    for route in URL_ROUTES:
        before = seeded.fingerprint()
        resp = seeded.request(route.method, route.path, orjson.dumps({**route.body, "url": url}))
        assert resp.status_code == 422, (str(route), url, resp.status_code, resp.text[:300])
        assert_refused(seeded, route, resp, before)
