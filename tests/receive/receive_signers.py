"""Requests signed by each provider's own library, for the framework adapters' tests.

Signers: ``standardwebhooks`` and ``svix`` ``Webhook.sign``; Stripe's header computed as
its documentation describes and checked by ``stripe.Webhook.construct_event``; ``slack_sdk``
``SignatureVerifier.generate_signature``; ``twilio`` ``RequestValidator.compute_signature``;
GitHub and Shopify (no Python signer published) with stdlib ``hmac`` from their docs.
Nothing of hookline's signs here. Imported as ``receive_signers``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import standardwebhooks.webhooks
import stripe
import svix.webhooks
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from hookline.receive import Verifier

WHSEC = "whsec_" + base64.b64encode(bytes(range(24))).decode()
WRONG_WHSEC = "whsec_" + base64.b64encode(b"x" * 24).decode()
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Signs (secret, body, unix time, the full URL requested) into headers.
Sign = Callable[[str, bytes, int, str], dict[str, str]]


def _standard(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    moment = datetime.fromtimestamp(ts, UTC)
    signature = standardwebhooks.webhooks.Webhook(secret).sign("msg_1", moment, body.decode())
    return {"webhook-id": "msg_1", "webhook-timestamp": str(ts), "webhook-signature": signature}


def _svix(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    moment = datetime.fromtimestamp(ts, UTC)
    signature = svix.webhooks.Webhook(secret).sign("msg_1", moment, body.decode())
    return {"svix-id": "msg_1", "svix-timestamp": str(ts), "svix-signature": signature}


def _stripe(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    """Stripe's docs: ``t=<ts>,v1=<hex HMAC-SHA256 of "{ts}.{body}">``; stripe's own
    ``construct_event`` accepts it (when the time is now), so the vector is Stripe's."""
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={ts},v1={digest}"
    if abs(time.time() - ts) < 60:
        event = stripe.Webhook.construct_event(body.decode(), header, secret)
        assert event["id"] == "evt_1"
    return {"Stripe-Signature": header}


def _slack(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
    assert signature is not None
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}


def _github(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }


def _shopify(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }


def twilio_signature(secret: str, body: bytes, url: str) -> str:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature: str = RequestValidator(secret).compute_signature(url, params)
    return signature


def _twilio(secret: str, body: bytes, ts: int, url: str) -> dict[str, str]:
    return {
        "X-Twilio-Signature": twilio_signature(secret, body, url),
        "I-Twilio-Idempotency-Token": "idem-1",
    }


@dataclass(frozen=True)
class Case:
    name: str  # the route's last segment
    provider: str
    secret: str
    wrong: str
    sign: Sign
    body: bytes  # holds "100": tampering makes it "999"
    event_type: str
    event_id: str
    timestamped: bool = False
    content_type: str = JSON

    def verifier(self) -> Verifier:
        return Verifier(self.provider, self.secret)

    def request(
        self, url: str, *, ts: int | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a request to ``url`` signed at ``ts`` (now)."""
        at = int(time.time()) if ts is None else ts
        headers = self.sign(secret or self.secret, self.body, at, url)
        return self.body, {"Content-Type": self.content_type, **headers}


STANDARD_BODY = b'{"type":"invoice.paid","amount":100}'
TWILIO_BODY = urlencode(
    {"MessageSid": "SM1", "MessageStatus": "delivered", "Body": "pay 100 & more"}
).encode()
CASES = [
    Case("standard", "standard-webhooks", WHSEC, WRONG_WHSEC, _standard, STANDARD_BODY,
         "invoice.paid", "msg_1", timestamped=True),
    Case("svix", "svix", WHSEC, WRONG_WHSEC, _svix, STANDARD_BODY, "invoice.paid", "msg_1",
         timestamped=True),
    Case("stripe", "stripe", "whsec_stripe_test", "whsec_wrong", _stripe,
         b'{"id":"evt_1","type":"invoice.paid","data":{"amount":100}}', "invoice.paid",
         "evt_1", timestamped=True),
    Case("slack", "slack", "slack-signing-secret", "slack-wrong", _slack,
         b'{"type":"event_callback","event_id":"Ev01","event":{"type":"app_mention","n":100}}',
         "app_mention", "Ev01", timestamped=True),
    Case("github", "github", "gh-secret", "gh-wrong", _github, b'{"ref":"main","size":100}',
         "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    Case("shopify", "shopify", "shop-secret", "shop-wrong", _shopify,
         b'{"id":820982911946154508,"total":"100"}', "orders.create",
         "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    Case("twilio", "twilio", "twilio-auth-token", "twilio-wrong", _twilio, TWILIO_BODY,
         "twilio.message.delivered", "idem-1", content_type=FORM),
]  # fmt: skip
BY_NAME = {case.name: case for case in CASES}
STALE_S = 3600  # beyond the default tolerance of 300 s
PUBLIC_BASE = "https://hooks.example.test"  # a reserved name: signed, never connected to
FORGERIES = [
    (case, forgery)
    for case in CASES
    for forgery in ("tampered", "wrong_secret", "stale")
    if forgery != "stale" or case.timestamped
]
FORGERY_IDS = [f"{case.name}-{forgery}" for case, forgery in FORGERIES]
