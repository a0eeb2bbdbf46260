"""The front door for applications: one call per provider, secrets as plain arguments.

``parse_config`` and ``verify(config, request)`` speak the Ingest API's config mapping,
which suits a server that stores sources; an application that receives one provider's
webhooks wants ``verify_stripe(body, headers, secret=...)`` instead. Both run the same
verifiers, so an application and hookline's own inbound sources accept the same requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hookline.receive.config import DEFAULT_TOLERANCE_S, parse_config
from hookline.receive.types import ReceivedRequest, VerifiedEvent
from hookline.receive.verify import verify as verify_request

Secret = str | Sequence[str]
_SIGNS_URL = ("twilio",)


def _secrets(secret: Secret | None) -> list[str]:
    if secret is None:
        return []
    return [secret] if isinstance(secret, str) else list(secret)


class Verifier:
    """One provider's verifier, configured once and used for every request.

    ``secret`` is a string, or a list of strings all accepted (newest first) while a
    provider rotates. For ``basic-auth`` each secret is ``"username:password"``. The other
    arguments are the generic schemes' settings (``hmac``: ``header``, ``algorithm``,
    ``encoding``, ``prefix``, ``signed_content``, ``timestamp_header``; ``api-key``:
    ``header``). A setting the provider does not take raises ``ConfigError`` here, not
    per request.
    """

    def __init__(
        self,
        provider: str,
        secret: Secret | None = None,
        *,
        tolerance: int = DEFAULT_TOLERANCE_S,
        header: str | None = None,
        algorithm: str | None = None,
        encoding: str | None = None,
        prefix: str | None = None,
        signed_content: str | None = None,
        timestamp_header: str | None = None,
        event_type_header: str | None = None,
    ) -> None:
        raw: dict[str, Any] = {}
        secrets = _secrets(secret)
        if provider == "basic-auth":
            pairs = [s.partition(":") for s in secrets]
            raw["credentials"] = [{"username": u, "password": p} for u, _, p in pairs]
        elif secrets:
            raw["secrets"] = secrets
        if tolerance != DEFAULT_TOLERANCE_S:
            raw["toleranceSeconds"] = tolerance
        settings = {
            "header": header,
            "algorithm": algorithm,
            "encoding": encoding,
            "prefix": prefix,
            "signedContent": signed_content,
            "timestampHeader": timestamp_header,
            "eventTypeHeader": event_type_header,
        }
        raw.update({key: value for key, value in settings.items() if value is not None})
        self.provider = provider
        self.config = parse_config(provider, raw)

    @property
    def signs_url(self) -> bool:
        """Whether the request's full URL is part of what is signed (then pass ``url``)."""
        return self.provider in _SIGNS_URL or "{url}" in self.config.signed_content

    def verify(
        self,
        body: bytes | str,
        headers: Mapping[str, str],
        *,
        url: str | None = None,
        method: str = "POST",
        now: float | None = None,
    ) -> VerifiedEvent:
        """The event of a request that verifies; ``VerificationError`` for any other.

        ``body`` must be the raw bytes as received (a str is taken as its UTF-8 bytes).
        ``url`` is the full URL the provider requested, as seen from outside any proxy;
        it is required where the URL is signed (Twilio). ``now`` replaces the clock.
        """
        if url is None and self.signs_url:
            raise ValueError(f"{self.provider} signs the request URL: pass url=")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        request = ReceivedRequest(method, url or "", headers, data)
        return verify_request(self.config, request, now)


def verify_standard(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: Secret,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> VerifiedEvent:
    """Standard Webhooks (and Svix, and hookline's own deliveries): ``whsec_`` secrets."""
    return Verifier("standard-webhooks", secret, tolerance=tolerance).verify(body, headers, now=now)


def verify_github(
    body: bytes | str, headers: Mapping[str, str], *, secret: Secret
) -> VerifiedEvent:
    """GitHub's ``X-Hub-Signature-256``; event type from ``X-GitHub-Event``."""
    return Verifier("github", secret).verify(body, headers)


def verify_shopify(
    body: bytes | str, headers: Mapping[str, str], *, secret: Secret
) -> VerifiedEvent:
    """Shopify's ``X-Shopify-Hmac-Sha256``; event type from ``X-Shopify-Topic``."""
    return Verifier("shopify", secret).verify(body, headers)


def verify_stripe(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: Secret,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> VerifiedEvent:
    """Stripe's ``Stripe-Signature`` with the endpoint's ``whsec_...`` signing secret."""
    return Verifier("stripe", secret, tolerance=tolerance).verify(body, headers, now=now)


def verify_slack(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: Secret,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> VerifiedEvent:
    """Slack's ``X-Slack-Signature`` with the app's signing secret; a ``url_verification``
    comes back with ``challenge`` set, to be answered as it is."""
    return Verifier("slack", secret, tolerance=tolerance).verify(body, headers, now=now)


def verify_twilio(
    body: bytes | str, headers: Mapping[str, str], *, url: str, secret: Secret
) -> VerifiedEvent:
    """Twilio's ``X-Twilio-Signature`` with the auth token; Twilio signs ``url``, the full
    URL it requested (scheme, host, path and query, as seen from outside any proxy)."""
    return Verifier("twilio", secret).verify(body, headers, url=url)


def verify_hmac(
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    secret: Secret,
    header: str,
    algorithm: str = "sha256",
    encoding: str = "hex",
    prefix: str = "",
    signed_content: str = "{body}",
    timestamp_header: str | None = None,
    tolerance: int = DEFAULT_TOLERANCE_S,
    url: str | None = None,
    now: float | None = None,
) -> VerifiedEvent:
    """Any HMAC scheme: ``header`` holds ``prefix`` + the digest of ``signed_content``
    (``{body}``, ``{timestamp}`` from ``timestamp_header``, ``{url}``)."""
    verifier = Verifier(
        "hmac",
        secret,
        tolerance=tolerance,
        header=header,
        algorithm=algorithm,
        encoding=encoding,
        prefix=prefix,
        signed_content=signed_content,
        timestamp_header=timestamp_header,
    )
    return verifier.verify(body, headers, url=url, now=now)
