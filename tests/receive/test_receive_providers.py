"""Each provider's requests, signed by that provider's own tool, verify; forgeries do not.

Signers: ``stripe.WebhookSignature``, ``slack_sdk``'s ``SignatureVerifier``, ``twilio``'s
``RequestValidator``, ``svix`` and ``standardwebhooks`` ``Webhook.sign``, PyNaCl for v1a.
GitHub and Shopify publish no Python signer: their worked examples are fixed vectors
below, and the matrix signs with a few lines of stdlib written from their documentation.
The libraries only sign here; nothing of ours is checked by them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import nacl.signing
import pytest
import standardwebhooks.webhooks
import stripe
import svix.webhooks
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from hookline.receive import (
    ProviderConfig,
    ReceivedRequest,
    VerificationError,
    parse_config,
    verify,
)

NOW = 1_700_000_000
URL = "https://hooks.example.com/in/tok_abc?source=1"
FORM = "application/x-www-form-urlencoded"
WHSEC = ("whsec_" + base64.b64encode(bytes(range(24))).decode(), "whsec_" + "A" * 32)
WRONG_WHSEC = "whsec_" + base64.b64encode(b"x" * 24).decode()
Signer = Callable[[str, bytes, int], dict[str, str]]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def sign_github(secret: str, body: bytes, ts: int) -> dict[str, str]:
    """From GitHub's docs: hex HMAC-SHA256 of the body, prefixed ``sha256=``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }


def sign_shopify(secret: str, body: bytes, ts: int) -> dict[str, str]:
    """From Shopify's docs: base64 HMAC-SHA256 of the raw body."""
    return {
        "X-Shopify-Hmac-Sha256": _b64(hmac.new(secret.encode(), body, hashlib.sha256).digest()),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }


def sign_stripe(secret: str, body: bytes, ts: int) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, ts)
    return {"Stripe-Signature": header}


def sign_slack(secret: str, body: bytes, ts: int) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}


def sign_twilio(secret: str, body: bytes, ts: int) -> dict[str, str]:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = RequestValidator(secret).compute_signature(URL, params)
    return {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": "idem-1"}


def twilio_json_url(body: bytes) -> str:
    return f"{URL}&bodySHA256={RequestValidator('x').compute_hash(body.decode())}"


def sign_twilio_json(secret: str, body: bytes, ts: int) -> dict[str, str]:
    # Twilio signs the URL that names the hash of the genuine body.
    return {"X-Twilio-Signature": RequestValidator(secret).compute_signature(JSON_URL, {})}


def _standard_headers(signature: str, ts: int, prefix: str) -> dict[str, str]:
    return {
        f"{prefix}-id": "msg_2aXk",
        f"{prefix}-timestamp": str(ts),
        f"{prefix}-signature": signature,
    }


def sign_svix(secret: str, body: bytes, ts: int) -> dict[str, str]:
    moment = datetime.fromtimestamp(ts, UTC)
    signature = svix.webhooks.Webhook(secret).sign("msg_2aXk", moment, body.decode())
    return _standard_headers(signature, ts, "svix")


def sign_standard(secret: str, body: bytes, ts: int) -> dict[str, str]:
    moment = datetime.fromtimestamp(ts, UTC)
    webhook = standardwebhooks.webhooks.Webhook(secret)
    return _standard_headers(webhook.sign("msg_2aXk", moment, body.decode()), ts, "webhook")


SEEDS = (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)


def _public(seed: bytes) -> str:
    return "whpk_" + _b64(bytes(nacl.signing.SigningKey(seed).verify_key))


def sign_ed25519(secret: str, body: bytes, ts: int) -> dict[str, str]:
    seed = next(s for s in SEEDS if _public(s) == secret)
    content = f"msg_2aXk.{ts}.".encode() + body
    signature = nacl.signing.SigningKey(seed).sign(content).signature
    return _standard_headers(f"v1a,{_b64(signature)}", ts, "webhook")


@dataclass(frozen=True)
class Case:
    provider: str
    sign: Signer
    body: bytes  # holds "100" once: tampering changes it to "999"
    signature_header: str
    secrets: tuple[str, str] = ("s3cret-new", "s3cret-old")
    wrong: str = "s3cret-wrong"
    timestamped: bool = False
    url: str = URL
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    tampered_reason: str = "bad_signature"


STRIPE_BODY = b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"amount":100}}'
SLACK_BODY = b'{"type":"event_callback","event_id":"Ev01","event":{"type":"app_mention","n":100}}'
TWILIO_FORM = urlencode({"MessageSid": "SM1", "Body": "pay 100", "From": "+15005550006"})
JSON_BODY = b'{"type":"com.twilio.messaging.message.delivered","amount":100}'
JSON_URL = twilio_json_url(JSON_BODY)
STANDARD_BODY = b'{"type":"invoice.paid","amount":100}'
CASES = [
    Case("github", sign_github, b'{"ref":"refs/heads/main","size":100}', "X-Hub-Signature-256"),
    Case(
        "shopify", sign_shopify, b'{"id":820982911946154508,"total":"100"}', "X-Shopify-Hmac-Sha256"
    ),
    Case(
        "stripe",
        sign_stripe,
        STRIPE_BODY,
        "Stripe-Signature",
        ("whsec_new", "whsec_old"),
        "whsec_wrong",
        True,
    ),
    Case("slack", sign_slack, SLACK_BODY, "X-Slack-Signature", timestamped=True),
    Case(
        "twilio",
        sign_twilio,
        TWILIO_FORM.encode(),
        "X-Twilio-Signature",
        headers={"Content-Type": FORM},
    ),
    Case(
        "twilio",
        sign_twilio_json,
        JSON_BODY,
        "X-Twilio-Signature",
        url=JSON_URL,
        tampered_reason="body_hash_mismatch",
    ),
    Case("svix", sign_svix, STANDARD_BODY, "svix-signature", WHSEC, WRONG_WHSEC, True),
    Case(
        "standard-webhooks",
        sign_standard,
        STANDARD_BODY,
        "webhook-signature",
        WHSEC,
        WRONG_WHSEC,
        True,
    ),
    Case(
        "standard-webhooks",
        sign_ed25519,
        STANDARD_BODY,
        "webhook-signature",
        (_public(SEEDS[0]), _public(SEEDS[1])),
        _public(SEEDS[2]),
        True,
    ),
]
IDS = [
    "github",
    "shopify",
    "stripe",
    "slack",
    "twilio-form",
    "twilio-json",
    "svix",
    "standard-v1",
    "standard-v1a",
]


def request(
    case: Case, secret: str, *, body: bytes | None = None, ts: int = NOW
) -> ReceivedRequest:
    headers = {**case.headers, **case.sign(secret, case.body, ts)}
    return ReceivedRequest("POST", case.url, headers, case.body if body is None else body)


def config(case: Case) -> ProviderConfig:
    return parse_config(case.provider, {"secrets": list(case.secrets)})


def reason(case: Case, req: ReceivedRequest, now: float = NOW) -> str:
    with pytest.raises(VerificationError) as caught:
        verify(config(case), req, now=now)
    assert all(s not in str(caught.value) for s in (*case.secrets, case.wrong))
    return caught.value.reason


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_genuine_request_is_accepted_and_its_body_passed_on(case: Case) -> None:
    event = verify(config(case), request(case, case.secrets[0]), now=NOW)
    if case.headers["Content-Type"] == FORM:
        assert json.loads(event.payload)["Body"] == "pay 100"
    else:
        assert event.payload == case.body


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_older_secret_is_still_accepted_during_rotation(case: Case) -> None:
    assert verify(config(case), request(case, case.secrets[1]), now=NOW).event_type


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tampered_body_is_rejected(case: Case) -> None:
    forged = request(case, case.secrets[0], body=case.body.replace(b"100", b"999"))
    assert forged.body != case.body
    assert reason(case, forged) == case.tampered_reason


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrong_secret_is_rejected(case: Case) -> None:
    assert reason(case, request(case, case.wrong)) == "bad_signature"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_missing_signature_header_is_rejected(case: Case) -> None:
    genuine = request(case, case.secrets[0])
    headers = {k: v for k, v in genuine.headers.items() if k != case.signature_header.lower()}
    assert len(headers) == len(genuine.headers) - 1
    assert reason(case, ReceivedRequest("POST", case.url, headers, case.body)) == "missing_header"


TIMESTAMPED = [(c, i) for c, i in zip(CASES, IDS, strict=True) if c.timestamped]


@pytest.mark.parametrize("case", [c for c, _ in TIMESTAMPED], ids=[i for _, i in TIMESTAMPED])
def test_timestamp_outside_five_minutes_is_rejected_inside_accepted(case: Case) -> None:
    genuine = request(case, case.secrets[0])
    assert verify(config(case), genuine, now=NOW + 299).event_type
    assert verify(config(case), genuine, now=NOW - 299).event_type
    assert reason(case, genuine, now=NOW + 301) == "timestamp_out_of_tolerance"
    assert reason(case, genuine, now=NOW - 301) == "timestamp_out_of_tolerance"
