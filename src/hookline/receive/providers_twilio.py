"""Twilio: ``X-Twilio-Signature`` over the URL Twilio requested plus the form fields.

The signed text is the full URL followed by each form field's name and value, names in
sorted order (a repeated name contributes each distinct value, sorted), HMAC-SHA1 keyed
by the auth token, base64. A request carrying ``X-Twilio-Webhooks-Signature-Settings``
with ``algorithm=HMAC_SHA256`` uses HMAC-SHA256 instead. Twilio signs the URL
sometimes with and sometimes without the default port, so both are tried, as Twilio's own
library does. A JSON body is signed through the URL alone: the URL's ``bodySHA256`` query
parameter must then be the hex SHA-256 of the body.

Event type: ``twilio.call`` for a form with ``CallSid``, ``twilio.message`` for one with
``MessageSid`` or ``SmsSid``, followed by ``.{status}`` from ``CallStatus``,
``MessageStatus`` or ``SmsStatus`` when present (``twilio.message.delivered``,
``twilio.call.completed``); a JSON body's ``type`` (Event Streams); else
``twilio.webhook``. Dedup key: ``I-Twilio-Idempotency-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import ParseResult, parse_qs, urlparse

from hookline.receive.common import from_base64, mac, raw, require_signature, required
from hookline.receive.config import ProviderConfig
from hookline.receive.content import finish, form_fields, read_body
from hookline.receive.types import (
    BODY_HASH_MISMATCH,
    MALFORMED,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
)

_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def _algorithm(request: ReceivedRequest) -> str:
    """The algorithm the settings header names; HMAC-SHA1 when it names none."""
    for part in (request.header("x-twilio-webhooks-signature-settings") or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = _ALGORITHMS.get(value.strip().upper())
            if algorithm is None:
                raise VerificationError(MALFORMED, "unknown Twilio signature algorithm")
            return algorithm
    return "sha1"


def _url_forms(url: ParseResult) -> list[str]:
    """The URL as requested, with its default port added and with any port removed."""
    port = url.port  # ValueError for a non-numeric or out-of-range port
    host = url.netloc.rsplit(":", 1)[0] if port else url.netloc
    default = 443 if url.scheme == "https" else 80
    with_port = url.geturl() if port else url._replace(netloc=f"{host}:{default}").geturl()
    without = url._replace(netloc=host).geturl() if port else url.geturl()
    return [without, with_port]


def _signed_text(fields: dict[str, str | list[str]]) -> str:
    parts: list[str] = []
    for name in sorted(fields):
        value = fields[name]
        for item in sorted(set(value if isinstance(value, list) else [value])):
            parts.append(name + item)
    return "".join(parts)


def _event_type(fields: dict[str, str | list[str]] | None) -> str | None:
    if not fields:
        return None
    if "CallSid" in fields:
        kind, status = "twilio.call", fields.get("CallStatus")
    elif "MessageSid" in fields or "SmsSid" in fields:
        kind, status = "twilio.message", fields.get("MessageStatus") or fields.get("SmsStatus")
    else:
        return None
    return f"{kind}.{status}" if isinstance(status, str) and status else kind


def verify_twilio(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    given = from_base64(required(request, "x-twilio-signature"), "X-Twilio-Signature")
    algorithm = _algorithm(request)
    try:
        url = urlparse(request.url)
        urls = _url_forms(url)
        body_hash = parse_qs(url.query).get("bodySHA256")
    except ValueError:
        raise VerificationError(MALFORMED, "the request URL cannot be read") from None
    fields: dict[str, str | list[str]] | None = None
    if body_hash is None:
        fields = form_fields(request.body)
        if fields is None:
            raise VerificationError(MALFORMED, "the body is not a readable form")
    params = _signed_text(fields) if fields else ""
    expected = (mac(s, raw(u + params), algorithm) for s in config.secrets for u in urls)
    require_signature(expected, [given])
    if body_hash is not None:
        actual = hashlib.sha256(request.body).hexdigest().encode()
        if not hmac.compare_digest(actual, raw(body_hash[0].strip().lower())):
            raise VerificationError(BODY_HASH_MISMATCH, "bodySHA256 is not the body's hash")
    return finish(
        config.provider,
        config.event_type_header,
        request,
        own_type=_event_type(fields),
        dedup=request.header("i-twilio-idempotency-token"),
        body=read_body(request),
    )
