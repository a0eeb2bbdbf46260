"""One entry point: pick the provider's verifier from the config and run it."""

from __future__ import annotations

from collections.abc import Callable

from hookline.receive.config import ProviderConfig
from hookline.receive.providers_basic import (
    verify_api_key,
    verify_basic_auth,
    verify_hmac,
    verify_none,
)
from hookline.receive.types import ReceivedRequest, VerifiedEvent

Verifier = Callable[[ProviderConfig, ReceivedRequest, "float | None"], VerifiedEvent]

_VERIFIERS: dict[str, Verifier] = {
    "none": verify_none,
    "api-key": verify_api_key,
    "basic-auth": verify_basic_auth,
    "hmac": verify_hmac,
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
    if verifier is None:
        raise NotImplementedError(f"verification for {config.provider} is not written yet")
    return verifier(config, request, now)
