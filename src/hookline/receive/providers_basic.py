"""Providers without a vendor scheme: none, api-key, basic-auth and the generic hmac."""

from __future__ import annotations

import base64
import binascii
import re

from hookline.receive.common import (
    any_equal,
    from_base64,
    from_hex,
    mac,
    raw,
    require_signature,
    required,
    unix_seconds,
    within_tolerance,
)
from hookline.receive.config import ProviderConfig
from hookline.receive.content import finish, read_body
from hookline.receive.types import (
    BAD_CREDENTIALS,
    MALFORMED,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
)

_PLACEHOLDER = re.compile(r"\{(body|timestamp|url)\}")


def _event(
    config: ProviderConfig, request: ReceivedRequest, timestamp: int | None = None
) -> VerifiedEvent:
    return finish(
        config.provider,
        config.event_type_header,
        request,
        body=read_body(request),
        timestamp=timestamp,
    )


def verify_none(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """Accepts everything: for senders that sign nothing, behind other protection."""
    return _event(config, request)


def verify_api_key(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """The named header (``x-api-key`` unless configured) must equal one of the secrets."""
    given = required(request, config.header or "x-api-key")
    if not any_equal((raw(s) for s in config.secrets), [raw(given)]):
        raise VerificationError(BAD_CREDENTIALS, "the API key is not one this source accepts")
    return _event(config, request)


def verify_basic_auth(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """``Authorization: Basic base64(user:password)`` must be one of the credentials."""
    scheme, _, encoded = required(request, "authorization").strip().partition(" ")
    if scheme.lower() != "basic":
        raise VerificationError(MALFORMED, "the Authorization header is not Basic")
    try:
        pair = base64.b64decode(raw(encoded.strip()), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(MALFORMED, "the Basic credentials are not base64") from None
    if not any_equal((raw(s) for s in config.secrets), [pair]):
        raise VerificationError(BAD_CREDENTIALS, "the credentials are not ones this source accepts")
    return _event(config, request)


def _signed_content(config: ProviderConfig, request: ReceivedRequest, timestamp: str) -> bytes:
    """``signedContent`` with {body} as the raw body bytes, {timestamp} as the header's
    text, {url} as the full URL, and all other text as UTF-8."""
    parts: list[bytes] = []
    values = {"body": request.body, "timestamp": raw(timestamp), "url": raw(request.url)}
    last = 0
    for match in _PLACEHOLDER.finditer(config.signed_content):
        parts.append(raw(config.signed_content[last : match.start()]))
        parts.append(values[match.group(1)])
        last = match.end()
    parts.append(raw(config.signed_content[last:]))
    return b"".join(parts)


def verify_hmac(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """Generic HMAC: ``header`` holds ``prefix`` + the digest (hex or base64) of
    ``signedContent``; with ``timestampHeader``, that time must be within tolerance."""
    header = config.header or ""
    value = required(request, header).strip()
    timestamp = ""
    seconds: int | None = None
    if config.timestamp_header:
        timestamp = required(request, config.timestamp_header).strip()
        seconds = unix_seconds(timestamp, config.timestamp_header, millis=True)
        within_tolerance(seconds, config.tolerance_s, now)
    if config.prefix:
        if value[: len(config.prefix)].lower() != config.prefix.lower():
            raise VerificationError(MALFORMED, f"the {header} header lacks its prefix")
        value = value[len(config.prefix) :]
    given = from_hex(value, header) if config.encoding == "hex" else from_base64(value, header)
    content = _signed_content(config, request, timestamp)
    expected = (mac(s, content, config.algorithm) for s in config.secrets)
    require_signature(expected, [given])
    return _event(config, request, seconds)
