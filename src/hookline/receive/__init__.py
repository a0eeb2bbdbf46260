"""Verify a provider's webhook request, with or without the hookline server.

In an application, one call per provider (``verifier.py``) and a handler registry
(``handlers.py``); the FastAPI, Flask and Django adapters are in ``hookline.integrations``:

    from hookline.receive import VerificationError, verify_stripe

    event = verify_stripe(body, headers, secret="whsec_...")  # VerifiedEvent
    event.event_type, event.id, event.data, event.timestamp

The server's inbound sources use the config form:

    from hookline.receive import ReceivedRequest, parse_config, verify

    config = parse_config("github", {"secret": "..."})
    event = verify(config, ReceivedRequest("POST", url, headers, body))

``verify`` returns a :class:`VerifiedEvent` or raises :class:`VerificationError`, whose
``reason`` is one of ``missing_header``, ``malformed``, ``bad_signature``,
``bad_credentials``, ``timestamp_out_of_tolerance``, ``body_hash_mismatch``. Every secret
in the config is accepted (rotation), and every comparison is constant-time.

Event type (a valid name, ``[a-zA-Z0-9-_.]``, at most 256 characters): the header named by
``eventTypeHeader`` if configured and present; else the provider's own (GitHub
``X-GitHub-Event``, Shopify ``X-Shopify-Topic``, Slack the Events API ``event.type`` or
``slash_command``, Twilio see ``providers_twilio``); else the body's (or form's) ``type`` if
it is a string (Stripe, Standard Webhooks, Slack interactivity); else
``{provider}.webhook``. Other characters are replaced, each run by one ``.``
(``orders/create`` becomes ``orders.create``); the name is cut to 256 characters.

Dedup key: the provider's delivery id (GitHub ``X-GitHub-Delivery``, Shopify
``X-Shopify-Webhook-Id``, Stripe the body's ``id``, Slack ``event_id``, Twilio
``I-Twilio-Idempotency-Token``, Standard Webhooks ``webhook-id``), or None (then the
server deduplicates by a hash of the body). Ids longer than 256 characters are replaced by
``sha256:<hex digest>``, the same for the same id.

Timestamps (Stripe, Slack, Standard Webhooks, hmac with ``timestampHeader``) must be within
``toleranceSeconds`` (default 300) of now in either direction.

Payload (the message's JSON bytes): a body that is a JSON object is passed on byte for
byte (as orjson reads it, so UTF-8, no NaN, no lone surrogate; with no key repeated in an
object and at most 254 levels deep). A form-encoded body becomes an object of its fields,
a repeated field a list of its values in order; but a form whose only field is
``payload`` holding a JSON object (GitHub's form deliveries, Slack's interactivity) is
that object. Any other body becomes ``{"body": "<text>"}``, or ``{"bodyBase64": "..."}``
if it is not UTF-8. Non-JSON and form payloads are compact ASCII JSON.
"""

from hookline.receive.config import (
    PROVIDERS,
    ConfigError,
    ProviderConfig,
    parse_config,
    public_view,
    stored_config,
)
from hookline.receive.handlers import (
    Dispatched,
    IdempotencyStore,
    MemoryIdempotencyStore,
    WebhookHandlers,
)
from hookline.receive.types import (
    REASONS,
    ReceivedRequest,
    VerificationError,
    VerifiedEvent,
)
from hookline.receive.verifier import (
    Verifier,
    verify_github,
    verify_hmac,
    verify_shopify,
    verify_slack,
    verify_standard,
    verify_stripe,
    verify_twilio,
)
from hookline.receive.verify import verify

__all__ = [
    "PROVIDERS",
    "REASONS",
    "ConfigError",
    "Dispatched",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "ProviderConfig",
    "ReceivedRequest",
    "VerificationError",
    "VerifiedEvent",
    "Verifier",
    "WebhookHandlers",
    "parse_config",
    "public_view",
    "stored_config",
    "verify",
    "verify_github",
    "verify_hmac",
    "verify_shopify",
    "verify_slack",
    "verify_standard",
    "verify_stripe",
    "verify_twilio",
]
