"""The application's front door: ``verify_<provider>(body, headers, secret=...)`` and
``Verifier``, on requests signed by the providers' own libraries; and the public URL the
adapters rebuild for providers that sign it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from receive_signers import BY_NAME, PUBLIC_BASE

from hookline.integrations.http import public_url
from hookline.receive import (
    ConfigError,
    VerificationError,
    Verifier,
    verify_github,
    verify_hmac,
    verify_shopify,
    verify_slack,
    verify_standard,
    verify_stripe,
    verify_twilio,
)

URL = "https://hooks.example.test/in"


def test_one_call_per_provider_gives_the_typed_event() -> None:
    for name, call in [
        ("standard", verify_standard),
        ("stripe", verify_stripe),
        ("slack", verify_slack),
        ("github", verify_github),
        ("shopify", verify_shopify),
    ]:
        case = BY_NAME[name]
        body, headers = case.request(URL)
        event = call(body, headers, secret=[case.wrong, case.secret])  # either accepted
        assert (event.event_type, event.id) == (case.event_type, case.event_id), name
        assert (event.timestamp is not None) == case.timestamped, name
        with pytest.raises(VerificationError) as caught:
            call(body.replace(b"100", b"999"), headers, secret=case.secret)
        assert caught.value.reason == "bad_signature"


def test_twilio_signs_the_url() -> None:
    case = BY_NAME["twilio"]
    body, headers = case.request(URL)
    event = verify_twilio(body, headers, url=URL, secret=case.secret)
    assert event.data["MessageStatus"] == "delivered"
    with pytest.raises(VerificationError):
        verify_twilio(body, headers, url=URL + "?x=1", secret=case.secret)
    with pytest.raises(ValueError, match="url="):
        case.verifier().verify(body, headers)


def test_the_stale_and_the_far_future_are_refused_with_their_reason() -> None:
    case = BY_NAME["stripe"]
    for offset in (-400, 400):
        body, headers = case.request(URL, ts=int(time.time()) + offset)
        with pytest.raises(VerificationError) as caught:
            verify_stripe(body, headers, secret=case.secret)
        assert caught.value.reason == "timestamp_out_of_tolerance"
        assert verify_stripe(body, headers, secret=case.secret, tolerance=600).id == "evt_1"


def test_hmac_with_a_timestamp_and_the_url() -> None:
    now = int(time.time())
    body = b'{"type":"order.shipped"}'
    content = f"{now}.{URL}.".encode() + body
    digest = base64.b64encode(hmac.new(b"k", content, hashlib.sha512).digest()).decode()
    headers = {"X-Sig": f"v1={digest}", "X-Time": str(now)}
    settings = {
        "header": "X-Sig",
        "algorithm": "sha512",
        "encoding": "base64",
        "prefix": "v1=",
        "signed_content": "{timestamp}.{url}.{body}",
        "timestamp_header": "X-Time",
    }
    event = verify_hmac(body, headers, secret="k", url=URL, **settings)
    assert (event.event_type, event.timestamp) == ("order.shipped", now)
    with pytest.raises(VerificationError):
        verify_hmac(body, headers, secret="k", url=URL + "/", **settings)


def test_basic_auth_and_api_key_through_the_verifier() -> None:
    token = base64.b64encode(b"bob:pw").decode()
    assert Verifier("basic-auth", ["al:x", "bob:pw"]).verify(
        "{}", {"Authorization": f"Basic {token}"}
    )
    with pytest.raises(VerificationError) as caught:
        Verifier("api-key", "k1", header="X-Key").verify(b"{}", {"X-Key": "k2"})
    assert caught.value.reason == "bad_credentials"


def test_settings_a_provider_does_not_take_fail_at_construction() -> None:
    with pytest.raises(ConfigError):
        Verifier("github", "s", header="X-Sig")
    with pytest.raises(ConfigError):
        Verifier("stripe")  # no secret
    with pytest.raises(ConfigError):
        Verifier("standard-webhooks", "not-a-whsec")


def test_public_url_rebuilds_what_the_provider_requested() -> None:
    seen = "http://internal:8000/hooks/twilio?a=1&b=2"
    proxy = {"X-Forwarded-Proto": "https, http", "x-forwarded-host": "hooks.example.test"}
    assert public_url(seen, proxy) == seen  # untrusted: ignored
    trusted = public_url(seen, proxy, trust_forwarded=True)
    assert trusted == "https://hooks.example.test/hooks/twilio?a=1&b=2"
    assert public_url(seen, {"X-Forwarded-Proto": "gopher"}, trust_forwarded=True) == seen
    assert public_url(seen, {}, base=PUBLIC_BASE + "/") == trusted
    prefixed = public_url(seen, {}, base=PUBLIC_BASE + "/app")
    assert prefixed == "https://hooks.example.test/app/hooks/twilio?a=1&b=2"
