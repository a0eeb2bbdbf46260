"""Inbound sources and the requests they receive: plain data, no I/O.

A source is where a provider's webhooks arrive (``/in/{token}``). Each source owns an
application; a verified request becomes a message of that application, so endpoints,
filters, retries, FIFO and the attempt log serve receiving exactly as they serve sending.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DEDUP_WINDOW_MS = 24 * 3600 * 1000
INTAKE_PREFIX = "/in/"  # a source receives at INTAKE_PREFIX + its token
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
"""Headers whose values are credentials whatever the provider: basic auth, bearer tokens,
session cookies."""
DEFAULT_KEY_HEADER = "x-api-key"  # where an api-key source finds its key unless configured


class Verdict(enum.StrEnum):
    """What intake decided about a request. ``replay`` waits for the router to verify it
    again and route it anew."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    CHALLENGE = "challenge"  # a provider's handshake (Slack url_verification): answered, not routed
    REPLAY = "replay"


def token_hash(token: str) -> str:
    """Sources are looked up by the hash of their token, never by the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class Source:
    id: str
    name: str
    provider: str  # a receive provider name: github, stripe, ..., none
    config: dict[str, Any]  # provider settings, secrets included (sealed at rest)
    token: str
    app_id: str
    uid: str | None = None
    dedup_window_ms: int = DEFAULT_DEDUP_WINDOW_MS
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1  # the version read; an update applies only while it is still current
    created_at: int = 0
    updated_at: int = 0


def credential_headers(source: Source) -> frozenset[str]:
    """The headers of a request to ``source`` that hold credentials: sealed at rest, masked
    by the API, never forwarded with a message. One list for all three, so they agree."""
    if source.provider != "api-key":
        return CREDENTIAL_HEADERS
    key_header = source.config.get("header") or DEFAULT_KEY_HEADER
    return CREDENTIAL_HEADERS | {str(key_header).lower()}


CREDENTIAL_MASK = "***"


def shown_headers(source: Source, headers: dict[str, str]) -> dict[str, str]:
    """A received request's headers as the API and the pages show them: credentials
    masked (basic-auth, cookies, an api-key source's key header). Signatures are not
    secrets and stay, so a rejection can be understood. (The store hands reads back with
    sealed values as placeholders already; requests stored before sealing existed hold
    them in clear.)"""
    hidden = credential_headers(source)
    return {k: CREDENTIAL_MASK if k.lower() in hidden else v for k, v in headers.items()}


@dataclass(slots=True)
class InboundRequest:
    """One request as received: raw enough to verify again and to replay."""

    id: str
    source_id: str
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes | None  # None once retention dropped it
    verdict: Verdict
    status_code: int  # what intake answered
    received_at: int
    reason: str | None = None  # why it was rejected
    event_type: str | None = None
    dedup_key: str | None = None
    msg_id: str | None = None  # the message it became, once routed
    routed_at: int | None = None
    replays: int = 0

    @property
    def event_id(self) -> str:
        """The eventId of the message this request becomes: routing it again after a
        crash finds the message already there instead of publishing a second one."""
        return self.id if self.replays == 0 else f"{self.id}.r{self.replays}"


@dataclass(slots=True, frozen=True)
class InboundFilter:
    verdict: Verdict | None = None
    before_ms: int | None = None
    after_ms: int | None = None
