"""Requests signed exactly as each provider signs them, for testing the code that verifies.

    signed = sign_request("stripe", secret="whsec_test", body={"id": "evt_1", "type": "x"})
    response = client.post("/stripe", content=signed.body, headers=signed.headers)

A test that monkeypatches the verifier away tests nothing of it; a request signed the way
the provider signs goes through the real check. Each scheme here is written from the
provider's documentation (and checked against the provider's own library in hookline's
tests), not derived from hookline's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

if TYPE_CHECKING:
    from hookline.receive import ReceivedRequest

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
DEFAULT_URL = "http://localhost/webhooks"
Body = bytes | str | Mapping[str, Any]
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What to send: ``url`` (Twilio's JSON scheme adds ``bodySHA256`` to it), the
    headers (signature, timestamp and ``Content-Type``) and the exact body bytes."""

    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    method: str = "POST"

    def received(self) -> ReceivedRequest:
        """The same request as :func:`hookline.receive.verify` takes it."""
        from hookline.receive import ReceivedRequest

        return ReceivedRequest(self.method, self.url, self.headers, self.body)


def _mac(key: str, content: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key.encode(), content, _DIGESTS[algorithm]).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _body(provider: str, body: Body, content_type: str | None) -> tuple[bytes, str]:
    """Bytes and media type: a mapping is JSON (for Twilio a form, as Twilio posts)."""
    if isinstance(body, Mapping):
        if provider == "twilio":
            return urlencode(body, doseq=True).encode(), content_type or FORM
        return json.dumps(body, separators=(",", ":")).encode(), content_type or JSON
    data = body.encode() if isinstance(body, str) else bytes(body)
    return data, content_type or JSON


def _twilio(
    secret: str, url: str, body: bytes, content_type: str, algorithm: str
) -> tuple[str, dict[str, str]]:
    """URL + each form field's name and value (names sorted, a repeated name's values
    sorted); a JSON body is signed through the URL, which carries its ``bodySHA256``."""
    text = ""
    if content_type.startswith(FORM):
        fields: dict[str, set[str]] = {}
        for name, value in parse_qsl(body.decode(), keep_blank_values=True):
            fields.setdefault(name, set()).add(value)
        text = "".join(name + v for name in sorted(fields) for v in sorted(fields[name]))
    else:
        digest = hashlib.sha256(body).hexdigest()
        url = f"{url}{'&' if '?' in url else '?'}bodySHA256={digest}"
    headers = {"X-Twilio-Signature": _b64(_mac(secret, (url + text).encode(), algorithm))}
    if algorithm != "sha1":
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"algorithm=HMAC_{algorithm.upper()}"
    return url, headers


def _hmac_content(template: str, body: bytes, timestamp: str, url: str) -> bytes:
    """The template with {body} as the raw bytes, {timestamp} and {url} as text."""
    values = {"body": body, "timestamp": timestamp.encode(), "url": url.encode()}
    parts = re.split(r"\{(body|timestamp|url)\}", template)
    # re.split alternates literal text and placeholder names: even items are text
    return b"".join(values[p] if i % 2 else p.encode() for i, p in enumerate(parts))


def sign_request(
    provider: str,
    *,
    secret: str,
    body: Body,
    url: str | None = None,
    timestamp: int | None = None,
    msg_id: str | None = None,
    event_type: str | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    header: str | None = None,
    algorithm: str | None = None,
    encoding: str = "hex",
    prefix: str = "",
    signed_content: str = "{body}",
    timestamp_header: str | None = None,
) -> SignedRequest:
    """Sign ``body`` as ``provider`` does, with ``secret`` (for basic-auth ``user:password``).

    ``timestamp`` (unix seconds, default now) and ``msg_id`` (the provider's delivery id,
    default random) go where the provider puts them; ``event_type`` sets GitHub's
    ``X-GitHub-Event`` or Shopify's ``X-Shopify-Topic``. For ``hmac``, ``header``,
    ``algorithm``, ``encoding``, ``prefix``, ``signed_content`` and ``timestamp_header``
    mean what the source config's keys of those names mean (``algorithm`` ``sha256``
    unless given); for ``api-key``, ``header`` is the key's header (``X-Api-Key``); for
    ``twilio``, ``algorithm`` is ``sha1`` unless given as ``sha256``, and a mapping body
    is posted as a form. ``headers`` are sent as well.
    """
    data, media = _body(provider, body, content_type)
    target = url or DEFAULT_URL
    stamp = int(time.time()) if timestamp is None else timestamp
    out = {"Content-Type": media, **(headers or {})}
    if provider in ("standard-webhooks", "svix"):
        from hookline.signing import Webhook  # signs v1 (whsec_) and v1a (whsk_)

        name = "svix" if provider == "svix" else "webhook"
        wid = msg_id or "msg_" + secrets.token_hex(12)
        out[f"{name}-id"] = wid
        out[f"{name}-timestamp"] = str(stamp)
        out[f"{name}-signature"] = Webhook(secret).sign(wid, stamp, data)
    elif provider == "github":
        out["X-Hub-Signature-256"] = "sha256=" + _mac(secret, data).hex()
        out["X-Hub-Signature"] = "sha1=" + _mac(secret, data, "sha1").hex()
        out["X-GitHub-Event"] = event_type or "ping"
        out["X-GitHub-Delivery"] = msg_id or str(uuid.uuid4())
    elif provider == "shopify":
        out["X-Shopify-Hmac-Sha256"] = _b64(_mac(secret, data))
        out["X-Shopify-Topic"] = event_type or "orders/create"
        out["X-Shopify-Webhook-Id"] = msg_id or str(uuid.uuid4())
    elif provider == "stripe":
        signature = _mac(secret, f"{stamp}.".encode() + data).hex()
        out["Stripe-Signature"] = f"t={stamp},v1={signature}"
    elif provider == "slack":
        signature = _mac(secret, f"v0:{stamp}:".encode() + data).hex()
        out["X-Slack-Signature"] = f"v0={signature}"
        out["X-Slack-Request-Timestamp"] = str(stamp)
    elif provider == "twilio":
        target, signed = _twilio(secret, target, data, media, algorithm or "sha1")
        out.update(signed)
        if msg_id:
            out["I-Twilio-Idempotency-Token"] = msg_id
    elif provider == "hmac":
        if not header:
            raise ValueError("an hmac signature needs header=, the signature's header")
        text = str(stamp) if timestamp_header else ""
        if timestamp_header:
            out[timestamp_header] = text
        content = _hmac_content(signed_content, data, text, target)
        digest = _mac(secret, content, algorithm or "sha256")
        out[header] = prefix + (digest.hex() if encoding == "hex" else _b64(digest))
    elif provider == "basic-auth":
        out["Authorization"] = "Basic " + _b64(secret.encode())
    elif provider == "api-key":
        out[header or "X-Api-Key"] = secret
    elif provider != "none":
        raise ValueError(f"unknown provider {provider!r}")
    return SignedRequest(target, out, data)
