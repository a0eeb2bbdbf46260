"""Endpoint URLs: odd hosts are 422 on every route that takes a URL, never a 500,
and credentials in a URL are never shown back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_helpers import (
    ENDPOINTS as APP,
)
from api_helpers import (
    OPS,
    assert_error,
    list_all,
    url_requests,
    url_routes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from hookline.addresses import AddressPolicy, shown_url
from hookline.api.endpoint_urls import checked_url
from hookline.errors import ValidationFailed
from hookline.store.base import Store

BAD_HOSTS = [
    "http://xn--/",  # an empty punycode label
    "http://xn--a.example/",  # punycode that decodes to a non-character
    "http://a.xn--zz/",  # incomplete punycode
    "http://XN--A.example/",
    "http://a..b/",  # an empty label
    "http://.example/",
    "http://" + "a" * 64 + ".example/",  # a label longer than 63
    "http://" + ".".join(["a" * 60] * 5) + "/",  # a name longer than 253
    "http://%41.example/",  # percent-encoded host
    "http://exa%2Emple/",
    "http://\u2488.example/",  # NFKC maps it to "1." and so to an empty label
    "http://ex\u2488ample.com/",  # ... and here to another name, "ex1.ample.com"
    "http://a\u3002example/",  # an ideographic full stop, mapped to "."
    "http://u@/",
    "http://[1:2]/",  # brackets, but not an IPv6 address
    "http://[fe80::1%25eth0]/",  # a zone id is local to this machine
    "http://a.example\\@b.example/",
]
GOOD_URLS = [
    "https://example.com/hook",
    "https://xn--4ca0b.example/h",  # "äö.example" in ASCII form
    "https://äö.example/h",
    "https://" + "a" * 63 + ".example/",
    "http://[2001:db8::1]:8080/x",
    "http://[2001:DB8:0::1]/",  # spelled otherwise than yarl's compressed form
    "http://[::ffff:192.0.2.1]/",
    "https://u:p@h@example.com/",  # userinfo "u:p@h": the last "@" ends it
]
# These tests are about syntax: documentation addresses above pass with the guard off.
GUARD_OFF = AddressPolicy(enabled=False)
GUARD_ON = AddressPolicy()


@pytest.fixture
async def server(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with url_routes(store, GUARD_OFF) as c:
        yield c


async def stored_urls(server: httpx.AsyncClient) -> list[str]:
    return [e["url"] for e in await list_all(server, APP)] + [
        e["url"] for e in await list_all(server, OPS)
    ]


@pytest.mark.parametrize("url", BAD_HOSTS)
async def test_a_bad_host_is_422_on_every_url_route(server: httpx.AsyncClient, url: str) -> None:
    before = await stored_urls(server)
    for method, path, body in url_requests(url):
        resp = await server.request(method, path, json=body)
        error = assert_error(resp, 422)
        assert error["detail"][0]["loc"] == ["body", "url"], (method, path, error)
    assert await stored_urls(server) == before


@pytest.mark.parametrize("url", GOOD_URLS)
async def test_good_urls_are_accepted(server: httpx.AsyncClient, url: str) -> None:
    for method, path, body in url_requests(url):
        resp = await server.request(method, path, json=body)
        assert resp.status_code in (200, 201), (method, path, resp.text)


def test_checked_url_keeps_the_url_as_given() -> None:
    assert checked_url("https://äö.example/h?q=1", GUARD_ON) == "https://äö.example/h?q=1"


URL_PIECES = st.sampled_from(
    ["http://", "https://", "ftp://", "//", "xn--", "XN--", "a", "-", "_", ".", "..", "%", "%41",
     "%2e", "@", ":", "::1", "[", "]", "[::1]", "/", "?", "#", "\\", "\u00e4", "\u2488",
     "\u3002", "\ufeff", "\x00", " ", "9", "0x7f", "127.0.0.1", "user:pass@", "a" * 64, "zz",
     ":8080", ":99999", "\udc80"]
)  # fmt: skip
URL_TEXT = st.lists(URL_PIECES, max_size=10).map("".join) | st.text(max_size=40)


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(url=URL_TEXT)
def test_no_url_string_escapes_the_check(url: str) -> None:
    """Either a 422 or a URL that can be parsed, shown and sent without raising."""
    try:
        accepted = checked_url(url, GUARD_ON)
    except ValidationFailed:
        return
    parsed = URL(accepted)
    assert parsed.host and parsed.raw_host
    assert URL(shown_url(accepted)).password in (None, "***")


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(url=URL_TEXT.filter(lambda u: "\udc80" not in u), route=st.integers(0, 6))
async def test_no_url_string_gives_a_500(server: httpx.AsyncClient, url: str, route: int) -> None:
    method, path, body = url_requests(url)[route]
    resp = await server.request(method, path, json=body)
    assert resp.status_code < 500, (method, path, url, resp.text[:300])


SECRET_URL = "https://alice:s3cr3t@example.com/hook?x=1"


async def test_credentials_are_masked_in_every_endpoint_answer(server: httpx.AsyncClient) -> None:
    created = await server.post(APP, json={"url": SECRET_URL, "uid": "creds"})
    assert created.status_code == 201, created.text
    answers = [
        created.json(),
        (await server.get(APP + "/creds")).json(),
        (await server.patch(APP + "/creds", json={"description": "d"})).json(),
        (await server.put(APP + "/creds", json={"url": SECRET_URL})).json(),
        *await list_all(server, APP),
    ]
    op = await server.post(OPS, json={"url": SECRET_URL, "uid": "ops-creds"})
    assert op.status_code == 201, op.text
    answers += [
        op.json(),
        (await server.get(OPS + "/ops-creds")).json(),
        (await server.put(OPS + "/ops-creds", json={"url": SECRET_URL})).json(),
        *await list_all(server, OPS),
    ]
    for answer in answers:
        assert "s3cr3t" not in str(answer) and "alice" not in str(answer), answer
    shown = {a["url"] for a in answers if a.get("uid") in ("creds", "ops-creds")}
    assert shown == {"https://***@example.com/hook?x=1"}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.com/a@b", "https://example.com/a@b"),
        ("https://token@example.com/", "https://***@example.com/"),
        ("https://u:p@h@example.com:8443/p?q=@#f@", "https://***@example.com:8443/p?q=@#f@"),
        ("https://:pw@example.com/", "https://***@example.com/"),
        ("HTTP://U:P@EXAMPLE.COM", "HTTP://***@EXAMPLE.COM"),
    ],
)
def test_shown_url_masks_exactly_the_userinfo(url: str, shown: str) -> None:
    assert shown_url(url) == shown
