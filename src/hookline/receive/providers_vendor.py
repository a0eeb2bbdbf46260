"""GitHub, Shopify, Stripe, Slack and Standard Webhooks (Svix), each checked exactly as
that provider signs. Timestamps are checked before signatures: a stale request is refused
without spending a MAC on it."""

from __future__ import annotations

from hookline.receive.common import (
    from_base64,
    from_hex,
    mac,
    raw,
    refused,
    require_signature,
    required,
    unix_seconds,
    within_tolerance,
)
from hookline.receive.config import ProviderConfig
from hookline.receive.content import body_field, finish, is_form, read_body
from hookline.receive.types import (
    MALFORMED,
    MISSING_HEADER,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
)
from hookline.signing import InvalidSecret, SignatureError, Webhook


def verify_github(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``."""
    value = required(request, "x-hub-signature-256").strip()
    if not value.startswith("sha256="):
        raise VerificationError(MALFORMED, "X-Hub-Signature-256 does not start with sha256=")
    given = from_hex(value[len("sha256=") :], "X-Hub-Signature-256")
    require_signature((mac(s, request.body) for s in config.secrets), [given])
    return finish(
        config.provider,
        config.event_type_header,
        request,
        own_type=request.header("x-github-event"),
        dedup=request.header("x-github-delivery"),
        body=read_body(request),
    )


def verify_shopify(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>``."""
    given = from_base64(required(request, "x-shopify-hmac-sha256"), "X-Shopify-Hmac-Sha256")
    require_signature((mac(s, request.body) for s in config.secrets), [given])
    return finish(
        config.provider,
        config.event_type_header,
        request,
        own_type=request.header("x-shopify-topic"),
        dedup=request.header("x-shopify-webhook-id"),
        body=read_body(request),
    )


def verify_stripe(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, each v1 an HMAC-SHA256 of
    ``{t}.{body}`` keyed by the whole ``whsec_...`` string; any one matching suffices."""
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in required(request, "stripe-signature").split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key == "t" and timestamp is None:
            timestamp = unix_seconds(value, "Stripe-Signature")
        elif key == "v1":
            try:
                signatures.append(bytes.fromhex(value.strip()))
            except ValueError:
                continue  # one unreadable entry does not hide the others
    if timestamp is None or not signatures:
        raise VerificationError(MALFORMED, "Stripe-Signature lacks t= or v1=")
    within_tolerance(timestamp, config.tolerance_s, now)
    content = f"{timestamp}.".encode() + request.body
    require_signature((mac(s, content) for s in config.secrets), signatures)
    body = read_body(request)
    return finish(
        config.provider,
        config.event_type_header,
        request,
        dedup=body_field(body.document, "id"),
        body=body,
        timestamp=timestamp,
    )


def verify_slack(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">`` with
    ``X-Slack-Request-Timestamp`` within tolerance. A ``url_verification`` is answered
    with its ``challenge``; Events API events are typed by ``event.type``, deduplicated by
    ``event_id``; form posts (slash commands, interactivity) verify the same way."""
    stamp = required(request, "x-slack-request-timestamp").strip()
    signature = required(request, "x-slack-signature").strip()
    seconds = unix_seconds(stamp, "X-Slack-Request-Timestamp")
    within_tolerance(seconds, config.tolerance_s, now)
    if not signature.startswith("v0="):
        raise VerificationError(MALFORMED, "X-Slack-Signature does not start with v0=")
    given = from_hex(signature[3:], "X-Slack-Signature")
    content = b"v0:" + raw(stamp) + b":" + request.body
    require_signature((mac(s, content) for s in config.secrets), [given])
    body = read_body(request)
    document = body.document
    own: object = None  # interactivity is typed by its payload's type, like any body
    if is_form(request):
        own = "slash_command" if body_field(document, "command") is not None else None
    else:
        own = body_field(document, "event", "type")
    event = finish(
        config.provider,
        config.event_type_header,
        request,
        own_type=own,
        dedup=body_field(document, "event_id"),
        body=body,
        timestamp=seconds,
    )
    challenge = body_field(document, "challenge")
    if body_field(document, "type") == "url_verification" and isinstance(challenge, str):
        return VerifiedEvent(
            event_type="url_verification",
            dedup_key=None,
            payload=event.payload,
            challenge=raw(challenge),
            content_type="text/plain",
            timestamp=seconds,
        )
    return event


def _svix_header(request: ReceivedRequest, name: str) -> str:
    value = request.header(f"webhook-{name}") or request.header(f"svix-{name}")
    if value is None:
        raise VerificationError(MISSING_HEADER, f"the webhook-{name} header is missing")
    return value


def verify_standard(
    config: ProviderConfig, request: ReceivedRequest, now: float | None
) -> VerifiedEvent:
    """Standard Webhooks (``webhook-*`` or Svix's ``svix-*`` headers), v1 (HMAC) and v1a
    (ed25519) signatures, through hookline's own verifier; dedup key ``webhook-id``."""
    msg_id = _svix_header(request, "id")
    stamp = _svix_header(request, "timestamp")
    _svix_header(request, "signature")
    seconds = unix_seconds(stamp, "webhook-timestamp")
    within_tolerance(seconds, config.tolerance_s, now)
    verified = False
    for secret in config.secrets:
        try:  # one second of slack: the check above is the one that decides tolerance
            Webhook(secret, tolerance=config.tolerance_s + 1).verify(
                request.body, request.headers, now=now
            )
        except (SignatureError, InvalidSecret):
            continue
        verified = True
    if not verified:
        raise refused()
    return finish(
        config.provider,
        config.event_type_header,
        request,
        dedup=msg_id,
        body=read_body(request),
        timestamp=seconds,
    )
