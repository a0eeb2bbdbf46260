"""The values a verification takes and gives: one request in, one event or one error out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

# Stable reason codes: what intake stores as a rejection's reason and what the log shows.
MISSING_HEADER: Final = "missing_header"  # a header the scheme needs is absent or empty
MALFORMED: Final = "malformed"  # present but unreadable: bad encoding, prefix, timestamp
BAD_SIGNATURE: Final = "bad_signature"  # well-formed, but no accepted secret signed it
BAD_CREDENTIALS: Final = "bad_credentials"  # api-key or basic-auth did not match
TIMESTAMP_OUT_OF_TOLERANCE: Final = "timestamp_out_of_tolerance"  # too old or too far ahead
BODY_HASH_MISMATCH: Final = "body_hash_mismatch"  # Twilio's bodySHA256 is not the body's
REASONS: Final = (
    MISSING_HEADER,
    MALFORMED,
    BAD_SIGNATURE,
    BAD_CREDENTIALS,
    TIMESTAMP_OUT_OF_TOLERANCE,
    BODY_HASH_MISMATCH,
)


class VerificationError(Exception):
    """The request did not verify. ``reason`` is a code from ``REASONS``; the message is
    for people and never repeats a secret or a header's value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"VerificationError({self.reason!r}, {self.message!r})"


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the provider sent it.

    ``url`` is the full URL the provider signed (Twilio signs it): scheme, host, path and
    query, as seen from outside any proxy. ``headers`` are lower-cased once here; names that
    differ only in case are joined with ``", "`` as HTTP joins repeated headers.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _lowered(self.headers))

    def header(self, name: str) -> str | None:
        """The value of ``name`` (any case), or None if absent or empty."""
        return self.headers.get(name.lower()) or None


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """What a verified request becomes.

    ``payload`` is the JSON object the message carries (see the package docstring for how
    non-JSON bodies are converted). ``challenge``, when set, is the body to answer a
    provider's handshake with (Slack ``url_verification``), of media type ``content_type``;
    such a request is answered, not routed. ``timestamp`` is the signed time (unix
    seconds) for schemes that sign one (Stripe, Slack, Standard Webhooks, hmac with a
    timestamp header), else None.
    """

    event_type: str
    dedup_key: str | None
    payload: bytes = field(repr=False)
    challenge: bytes | None = None
    content_type: str | None = None
    timestamp: int | None = None

    @property
    def id(self) -> str | None:
        """The provider's delivery id (``webhook-id`` and its kin): what handlers
        deduplicate by. The same value as ``dedup_key``."""
        return self.dedup_key

    @property
    def data(self) -> dict[str, Any]:
        """The payload as a JSON object, parsed on each access (it is always an object)."""
        value: dict[str, Any] = orjson.loads(self.payload)
        return value
