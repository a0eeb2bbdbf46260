"""Verify a provider's webhook request, with or without the hookline server.

    from hookline.receive import ReceivedRequest, parse_config, verify

    config = parse_config("github", {"secret": "..."})
    event = verify(config, ReceivedRequest("POST", url, headers, body))

``verify`` returns a :class:`VerifiedEvent` or raises :class:`VerificationError`, whose
``reason`` is one of ``missing_header``, ``malformed``, ``bad_signature``,
``bad_credentials``, ``timestamp_out_of_tolerance``, ``body_hash_mismatch``. Every secret
in the config is accepted (rotation), and every comparison is constant-time.

Event type (a valid name, ``[a-zA-Z0-9-_.]``, at most 256 characters): the header named by
``eventTypeHeader`` if configured and present; else the provider's own (GitHub
``X-GitHub-Event``, Shopify ``X-Shopify-Topic``, Stripe and Standard Webhooks the body's
``type``, Slack the Events API ``event.type``, Twilio see ``providers_twilio``); else the
body's ``type`` if it is a string; else ``{provider}.webhook``. Other characters are
replaced, each run by one ``.`` (``orders/create`` becomes ``orders.create``).

Payload (the message's JSON bytes): a body that is a JSON object is passed on byte for
byte (if UTF-8, without repeated keys or NaN, and at most 254 levels deep); a form-encoded
body becomes an object of its fields, a repeated field a list of its values in order; any
other body becomes ``{"body": "<text>"}``, or ``{"bodyBase64": "..."}`` if not UTF-8.

Dedup key: the provider's delivery id, or None. Ids longer than 256 characters are
replaced by ``sha256:<hex digest>``, the same for the same id.
"""

from hookline.receive.config import (
    PROVIDERS,
    ConfigError,
    ProviderConfig,
    parse_config,
    public_view,
    stored_config,
)
from hookline.receive.types import (
    REASONS,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
)
from hookline.receive.verify import verify

__all__ = [
    "PROVIDERS",
    "REASONS",
    "ConfigError",
    "ProviderConfig",
    "ReceivedRequest",
    "VerificationError",
    "VerifiedEvent",
    "parse_config",
    "public_view",
    "stored_config",
    "verify",
]
