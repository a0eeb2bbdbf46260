"""``hookline.testing.sign_request`` signs as each provider does: what it makes verifies
with the provider's own library (or, for GitHub, Shopify and the generic schemes, with the
documented computation written out here) and with ``hookline.receive.verify``; the same
request with its body changed verifies with neither."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import standardwebhooks.webhooks
import stripe
import svix.webhooks
from multidict import MultiDict
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from hookline import generate_ed25519_keypair
from hookline.receive import VerificationError, parse_config, verify
from hookline.testing import SignedRequest, sign_request

WHSEC = "whsec_" + base64.b64encode(bytes(range(24))).decode()
BODY = {"id": "evt_1", "type": "invoice.paid", "amount": 100}
URL = "http://localhost:8000/hooks/in?source=1"


def _tampered(signed: SignedRequest) -> SignedRequest:
    assert b"100" in signed.body
    return replace(signed, body=signed.body.replace(b"100", b"999"))


def _standard(signed: SignedRequest, secret: str, prefix: str) -> bool:
    webhook = (
        svix.webhooks.Webhook(secret)
        if prefix == "svix"
        else standardwebhooks.webhooks.Webhook(secret)
    )
    try:
        webhook.verify(signed.body.decode(), signed.headers)
    except Exception:  # each library raises its own WebhookVerificationError
        return False
    return True


def _stripe(signed: SignedRequest, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            signed.body.decode(), signed.headers["Stripe-Signature"], secret, 300
        )
    except stripe.SignatureVerificationError:
        return False
    return True


def _slack(signed: SignedRequest, secret: str) -> bool:
    h = signed.headers
    return SignatureVerifier(secret).is_valid(
        signed.body, h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"]
    )


def _twilio(signed: SignedRequest, secret: str) -> bool:
    settings = signed.headers.get("X-Twilio-Webhooks-Signature-Settings", "")
    algorithm = settings.partition("=")[2] or None
    params: Any = signed.body.decode()
    if signed.headers["Content-Type"].startswith("application/x-www-form-urlencoded"):
        params = MultiDict(parse_qsl(params, keep_blank_values=True))
    validator = RequestValidator(secret)
    return bool(
        validator.validate(signed.url, params, signed.headers["X-Twilio-Signature"], algorithm)
    )


def _github(signed: SignedRequest, secret: str) -> bool:
    """GitHub's documented check: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), signed.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + digest, signed.headers["X-Hub-Signature-256"])


def _shopify(signed: SignedRequest, secret: str) -> bool:
    """Shopify's documented check: base64 HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), signed.body, hashlib.sha256).digest()
    return hmac.compare_digest(
        base64.b64encode(digest).decode(), signed.headers["X-Shopify-Hmac-Sha256"]
    )


def _generic_hmac(signed: SignedRequest, secret: str) -> bool:
    """The config below: X-Sig = "sha512=" + base64 HMAC-SHA512 of "{timestamp}.{url}.{body}"."""
    content = f"{signed.headers['X-Ts']}.{signed.url}.".encode() + signed.body
    digest = hmac.new(secret.encode(), content, hashlib.sha512).digest()
    return hmac.compare_digest(
        "sha512=" + base64.b64encode(digest).decode(), signed.headers["X-Sig"]
    )


def _basic(signed: SignedRequest, secret: str) -> bool:
    """What httpx sends for these credentials."""
    user, _, word = secret.partition(":")
    flow = httpx.BasicAuth(user, word).sync_auth_flow(httpx.Request("POST", "http://localhost/"))
    return bool(next(flow).headers["Authorization"] == signed.headers["Authorization"])


def _api_key(signed: SignedRequest, secret: str) -> bool:
    return signed.headers.get("X-Api-Key") == secret


Independent = Callable[[SignedRequest, str], bool]
HMAC_OPTIONS: dict[str, Any] = {
    "header": "X-Sig",
    "algorithm": "sha512",
    "encoding": "base64",
    "prefix": "sha512=",
    "signed_content": "{timestamp}.{url}.{body}",
    "timestamp_header": "X-Ts",
}
HMAC_CONFIG = {
    "header": "X-Sig",
    "algorithm": "sha512",
    "encoding": "base64",
    "prefix": "sha512=",
    "signedContent": "{timestamp}.{url}.{body}",
    "timestampHeader": "X-Ts",
}
# (provider, secret, sign_request's extra arguments, source config extras, body, check)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any], Any, Independent]] = [
    ("standard-webhooks", WHSEC, {}, {}, BODY, lambda s, k: _standard(s, k, "webhook")),
    ("svix", WHSEC, {}, {}, BODY, lambda s, k: _standard(s, k, "svix")),
    ("stripe", "whsec_test", {}, {}, BODY, _stripe),
    ("slack", "8f742231b10e8888abcd99yyyzzz85a5", {}, {}, BODY, _slack),
    ("twilio", "12345", {"url": URL}, {}, {"MessageSid": "SM1", "Body": "pay 100"}, _twilio),
    (
        "twilio",
        "12345",
        {"url": URL},
        {},
        MultiDict([("Body", "100"), ("To", "b"), ("To", "a"), ("To", "b")]),
        _twilio,
    ),
    ("twilio", "12345", {"url": URL, "algorithm": "sha256"}, {}, {"Body": "100"}, _twilio),
    ("twilio", "12345", {"url": URL}, {}, BODY, _twilio),  # JSON: bodySHA256 in the URL
    ("github", "It's a Secret to Everybody", {"event_type": "push"}, {}, BODY, _github),
    ("shopify", "shpss_abc", {"event_type": "orders/create"}, {}, BODY, _shopify),
    ("hmac", "hmac-key", {"url": URL, **HMAC_OPTIONS}, HMAC_CONFIG, BODY, _generic_hmac),
    ("basic-auth", "hook:pa55", {}, {}, BODY, _basic),
    ("api-key", "key-100-abc", {}, {}, BODY, _api_key),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize(("provider", "secret", "extra", "config", "body", "check"), CASES, ids=IDS)
def test_signed_requests_verify_independently_and_with_hookline(
    provider: str,
    secret: str,
    extra: dict[str, Any],
    config: dict[str, Any],
    body: Any,
    check: Independent,
) -> None:
    signed = sign_request(provider, secret=secret, body=body, **extra)
    assert check(signed, secret), f"{provider}: the independent check refused it"
    if provider == "basic-auth":
        user, _, word = secret.partition(":")
        config = {"username": user, "password": word}
    else:
        config = {"secret": secret, **config}
    source = parse_config(provider, config)
    verify(source, signed.received())

    if provider in ("basic-auth", "api-key"):  # credentials do not cover the body
        wrong = sign_request(provider, secret=secret.replace("a", "b"), body=body, **extra)
        assert not check(wrong, secret)
        with pytest.raises(VerificationError, match="not one"):
            verify(source, wrong.received())
        return
    tampered = _tampered(signed)
    assert not check(tampered, secret), f"{provider}: a changed body still passed"
    with pytest.raises(VerificationError):
        verify(source, tampered.received())


def test_github_documented_example() -> None:
    """GitHub's own worked example (docs: validating webhook deliveries)."""
    signed = sign_request("github", secret="It's a Secret to Everybody", body="Hello, World!")
    assert signed.headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_ed25519_secret_signs_v1a() -> None:
    secret_key, public_key = generate_ed25519_keypair()
    signed = sign_request("standard-webhooks", secret=secret_key, body=BODY, msg_id="msg_1")
    assert signed.headers["webhook-signature"].startswith("v1a,")
    verify(parse_config("standard-webhooks", {"secret": public_key}), signed.received())


def test_timestamp_and_ids_are_the_callers() -> None:
    moment = 1_700_000_000
    signed = sign_request("svix", secret=WHSEC, body=b"{}", timestamp=moment, msg_id="msg_x")
    assert signed.headers["svix-timestamp"] == str(moment)
    assert signed.headers["svix-id"] == "msg_x"
    webhook = svix.webhooks.Webhook(WHSEC)
    expected = webhook.sign("msg_x", datetime.fromtimestamp(moment, UTC), "{}")
    assert signed.headers["svix-signature"] == expected


def test_unknown_provider_and_hmac_without_header_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        sign_request("paypal", secret="x", body=b"{}")
    with pytest.raises(ValueError, match="header"):
        sign_request("hmac", secret="x", body=b"{}")
