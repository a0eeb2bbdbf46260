"""One entry point: pick the provider's verifier from the config and run it."""

from __future__ import annotations

from collections.abc import Callable

from hookline.receive.config import ConfigError, ProviderConfig
from hookline.receive.providers_basic import (
    verify_api_key,
    verify_basic_auth,
    verify_hmac,
    verify_none,
)
from hookline.receive.providers_twilio import verify_twilio
from hookline.receive.providers_vendor import (
    verify_github,
    verify_shopify,
    verify_slack,
    verify_standard,
    verify_stripe,
)
from hookline.receive.types import ReceivedRequest, VerifiedEvent

Verifier = Callable[[ProviderConfig, ReceivedRequest, "float | None"], VerifiedEvent]

_VERIFIERS: dict[str, Verifier] = {
    "none": verify_none,
    "api-key": verify_api_key,
    "basic-auth": verify_basic_auth,
    "hmac": verify_hmac,
    "github": verify_github,
    "shopify": verify_shopify,
    "stripe": verify_stripe,
    "slack": verify_slack,
    "twilio": verify_twilio,
    "svix": verify_standard,
    "standard-webhooks": verify_standard,
}


def verify(
    config: ProviderConfig, request: ReceivedRequest, now: float | None = None
) -> VerifiedEvent:
    """Check ``request`` as ``config.provider`` signs it and return its event.

    Raises ``VerificationError`` for every request that does not verify, whatever its
    headers and body hold. ``now`` (unix seconds) replaces the clock, for re-verifying a
    stored request as of when it was received.
    """
    verifier = _VERIFIERS.get(config.provider)
    if verifier is None:  # only a ProviderConfig built by hand, not by parse_config
        raise ConfigError(f"unknown source type {config.provider!r}")
    return verifier(config, request, now)
