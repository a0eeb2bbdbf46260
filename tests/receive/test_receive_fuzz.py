"""Whatever a request holds, ``verify`` answers with an event or a ``VerificationError``,
never another exception; and whatever it accepts is fit to publish."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hookline.receive import (
    PROVIDERS,
    REASONS,
    ProviderConfig,
    ReceivedRequest,
    VerificationError,
    parse_config,
    verify,
)

NOW = 1_700_000_000
SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
CONFIGS: dict[str, ProviderConfig] = {
    "hmac": parse_config(
        "hmac",
        {
            "secret": SECRET,
            "header": "x-sig",
            "signedContent": "{timestamp}.{url}.{body}",
            "timestampHeader": "x-ts",
            "encoding": "base64",
            "prefix": "v1=",
        },
    ),
    "basic-auth": parse_config("basic-auth", {"username": "u", "password": "p"}),
    "none": parse_config("none", {"eventTypeHeader": "x-kind"}),
}
for name in PROVIDERS:
    if name not in CONFIGS:
        CONFIGS[name] = parse_config(name, {"secret": SECRET})

# Header names every provider reads, so the fuzz reaches past "missing header".
NAMES = [
    "x-hub-signature-256",
    "x-github-event",
    "x-github-delivery",
    "x-shopify-hmac-sha256",
    "x-shopify-topic",
    "x-shopify-webhook-id",
    "stripe-signature",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-twilio-signature",
    "x-twilio-webhooks-signature-settings",
    "i-twilio-idempotency-token",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-sig",
    "x-ts",
    "x-kind",
    "x-api-key",
    "authorization",
    "content-type",
]
any_text = st.text(st.characters(codec=None, categories=None), max_size=80)  # surrogates too
# Lone surrogates are rare in st.text(); these reach every place a str becomes bytes.
surrogates = st.text(st.sampled_from(["\ud800", "\udfff", "a", "=", "1", "\u00e9"]), max_size=12)
shaped = st.one_of(
    any_text,
    surrogates,
    st.from_regex(r"(sha256=|v0=|v1=|v1,|t=|Basic |v1a,)[ -~]{0,70}", fullmatch=True),
    st.from_regex(r"t=[0-9]{1,12},v1=[0-9a-f]{0,64}(,v1=[ -~]{0,8})?", fullmatch=True),
    st.integers(NOW - 400, NOW + 400).map(str),
    st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "algorithm=HMAC_SHA256"]
    ),
)
headers = st.dictionaries(st.sampled_from(NAMES) | any_text, shaped, max_size=8)
bodies = st.one_of(
    st.binary(max_size=200),
    any_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False) | any_text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode()),
    st.from_regex(r"([A-Za-z%0-9]{0,6}=[A-Za-z%0-9+&=]{0,12}&?){0,5}", fullmatch=True).map(
        str.encode
    ),
)
urls = st.one_of(
    any_text,
    st.from_regex(
        r"https?://(\[[0-9a-f:]{0,6}\]?|[a-z@]{0,5})(:[0-9a-z]{0,7})?/[a-z]{0,3}", fullmatch=True
    ),
    st.from_regex(
        r"https?://[a-z.\[\]:0-9]{0,20}(/[a-z]{0,5})?(\?bodySHA256=[0-9a-f]{0,64})?", fullmatch=True
    ),
)
EVENT_TYPE = re.compile(r"[a-zA-Z0-9\-_.]{1,256}")


def _accepted_event_is_publishable(
    provider: str, hdrs: dict[str, str], body: bytes, url: str
) -> None:
    try:
        event = verify(CONFIGS[provider], ReceivedRequest("POST", url, hdrs, body), now=NOW)
    except VerificationError as exc:
        assert exc.reason in REASONS
        assert SECRET not in str(exc)
        return
    assert EVENT_TYPE.fullmatch(event.event_type)
    assert event.dedup_key is None or 0 < len(event.dedup_key) <= 256
    assert isinstance(json.loads(event.payload), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), headers, bodies, urls)
def test_random_requests_raise_nothing_but_verification_errors(
    provider: str, hdrs: dict[str, str], body: bytes, url: str
) -> None:
    _accepted_event_is_publishable(provider, hdrs, body, url)


def _sign(content: bytes) -> str:
    return (
        "v1="
        + base64.b64encode(hmac.new(SECRET.encode(), content, hashlib.sha256).digest()).decode()
    )


@settings(max_examples=100, deadline=None)
@given(headers, bodies, urls, st.integers(NOW - 300, NOW + 300))
def test_signed_random_requests_are_accepted_and_publishable(
    hdrs: dict[str, str], body: bytes, url: str, ts: int
) -> None:
    """Genuinely signed requests with arbitrary bodies and headers get through the
    conversion steps (event type, dedup key, payload) without an error."""
    signed = f"{ts}.{url}.".encode("utf-8", "surrogatepass") + body
    hdrs = {k: v for k, v in hdrs.items() if k.lower() not in ("x-sig", "x-ts")}
    hdrs |= {"x-sig": _sign(signed), "x-ts": str(ts)}
    event = verify(CONFIGS["hmac"], ReceivedRequest("POST", url, hdrs, body), now=NOW)
    assert EVENT_TYPE.fullmatch(event.event_type)
    assert isinstance(json.loads(event.payload), dict)
    _accepted_event_is_publishable("none", hdrs, body, url)


@settings(max_examples=100, deadline=None)
@given(urls, bodies, st.sampled_from(["", "application/x-www-form-urlencoded"]))
def test_twilio_reads_any_url_without_an_unexpected_error(url: str, body: bytes, kind: str) -> None:
    """Past the signature header's decoding, to the URL's ports, brackets and query."""
    hdrs = {"X-Twilio-Signature": "AAAA", "Content-Type": kind}
    _accepted_event_is_publishable("twilio", hdrs, body, url)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(CONFIGS)), surrogates, surrogates, bodies)
def test_lone_surrogates_in_headers_and_urls_are_only_verification_errors(
    provider: str, value: str, url: str, body: bytes
) -> None:
    hdrs = dict.fromkeys(NAMES, value)
    _accepted_event_is_publishable(provider, hdrs, body, url)
