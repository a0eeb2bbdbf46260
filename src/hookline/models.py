"""Domain records shared by every layer: plain data, no I/O.

Times are integer milliseconds since the Unix epoch (UTC) everywhere below the API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

JsonObject = Mapping[str, Any]

# Operational webhook endpoints live under this application id, which no API call can
# create, list or address: the operational-webhook API manages them.
OPERATIONAL_APP_ID = "app_operational"
MAX_OLD_SECRETS = 5  # rotated-out keys that may still be signing at once
# Headers hookline sets on every delivery: an endpoint's custom headers cannot replace them.
SET_BY_HOOKLINE = frozenset(
    (
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-id",
        "svix-timestamp",
        "svix-signature",
        "content-type",
        "content-length",
        "host",
        "user-agent",
        "transfer-encoding",
        "connection",
    )
)
# Headers that describe one connection, not the message (RFC 9110 section 7.6.1, plus the
# proxy and expectation ones): never stored with a received message, never forwarded.
HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    )
)
# Headers of a received request that are never passed on (``Endpoint.forward_headers``):
# those hookline sets, the one describing the body it sends, and hop-by-hop headers.
NOT_FORWARDED = SET_BY_HOOKLINE | HOP_BY_HOP | frozenset(("content-encoding",))
# What an attempt's recorded request headers show instead of a credential's value.
MASKED = "\u2022\u2022\u2022\u2022"
_SECRET_NAMES = frozenset(("authorization", "proxy-authorization", "cookie", "x-api-key"))
_SECRET_PARTS = ("token", "secret", "key", "password", "auth")


def is_secret_header(name: str) -> bool:
    """A header whose value an attempt's record masks: credentials, by name or by a
    part of it (``X-Auth-Token``, ``Api-Key``, ``Client-Secret``...)."""
    lower = name.lower()
    return lower in _SECRET_NAMES or any(part in lower for part in _SECRET_PARTS)


T = TypeVar("T")
# An endpoint whose URL is ``action://NAME`` runs the server-configured action NAME.
ACTION_SCHEME = "action://"


def action_name(url: str) -> str | None:
    """The action an endpoint URL names, or None for an HTTP(S) URL."""
    return url[len(ACTION_SCHEME) :] if url.startswith(ACTION_SCHEME) else None


# A polling endpoint: its consumers read its messages through the poller API, and the
# delivery engine never sends it anything.
POLL_URL = "poll://"


def is_polling(url: str) -> bool:
    """An endpoint read by polling (``poll://``) rather than sent to."""
    return url == POLL_URL


# A tunnel endpoint: its deliveries are queued as for any endpoint, but the workers never
# claim them; a ``hookline listen`` connected to the API does, and forwards them.
TUNNEL_URL = "tunnel://"


def is_tunnel(url: str) -> bool:
    """An endpoint delivered through a connected listener (``tunnel://``), not by HTTP."""
    return url == TUNNEL_URL


POLLING_REFUSED = "a polling endpoint receives no deliveries: its consumers poll for messages"


class DeliveryStatus(enum.IntEnum):
    """Svix's MessageStatus numbering, so the API can pass the value through."""

    SUCCESS = 0
    PENDING = 1
    FAILED = 2
    SENDING = 3
    CANCELED = 4


class TriggerType(enum.IntEnum):
    SCHEDULED = 0
    MANUAL = 1


class ErrorKind(enum.StrEnum):
    """Why an attempt got no usable HTTP response (or got a non-2xx one)."""

    HTTP_STATUS = "http_status"
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_ERROR = "connection_error"
    DNS = "dns"
    TLS = "tls"
    INVALID_RESPONSE = "invalid_response"
    BLOCKED = "blocked"
    ACTION_FAILED = "action_failed"  # a local action exited non-zero or could not start


@dataclass(slots=True)
class Application:
    id: str
    name: str
    uid: str | None = None
    rate_limit: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    version: int = 1  # the version read; an update applies only while it is still current


@dataclass(slots=True)
class EventType:
    name: str
    description: str = ""
    schemas: dict[str, Any] | None = None
    archived: bool = False
    feature_flag: str | None = None
    deprecated: bool = False
    created_at: int = 0
    updated_at: int = 0
    group_name: str | None = None
    feature_flags: list[str] | None = None
    # seconds between retries for this event type's messages; None: the server's schedule
    retry_schedule: list[float] | None = None


def subscription_matches(
    wanted_types: list[str] | None,
    wanted_channels: list[str] | None,
    event_type: str,
    channels: list[str] | None,
) -> bool:
    """Svix's fan-out rule: the type filter must match, and channels must overlap."""
    if wanted_types and event_type not in wanted_types:
        return False
    if wanted_channels:
        return bool(channels) and not set(wanted_channels).isdisjoint(channels or ())
    return True


@dataclass(slots=True, frozen=True)
class OldSecret:
    """A rotated-out key that keeps signing until it expires."""

    key: str
    expires_at: int


@dataclass(slots=True)
class Endpoint:
    id: str
    app_id: str
    url: str
    secret: str
    uid: str | None = None
    description: str = ""
    event_types: list[str] | None = None
    channels: list[str] | None = None
    disabled: bool = False
    rate_limit: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    old_secrets: list[OldSecret] = field(default_factory=list)
    version: int = 1
    max_in_flight: int | None = None
    fifo: bool = False
    payload_filter: str | None = None
    forward_headers: list[str] | None = None  # original headers of a received request to pass on
    send_traceparent: bool = False  # the attempt's W3C trace context goes to the subscriber
    created_at: int = 0
    updated_at: int = 0

    def accepts(self, event_type: str, channels: list[str] | None) -> bool:
        return not self.disabled and subscription_matches(
            self.event_types, self.channels, event_type, channels
        )

    def rotate_secret(self, new_secret: str, grace_ms: int, now_ms: int) -> None:
        """The old key keeps signing beside the new one until its grace period ends."""
        kept = [s for s in self.old_secrets if s.expires_at > now_ms]
        if grace_ms > 0:
            kept.append(OldSecret(key=self.secret, expires_at=now_ms + grace_ms))
        self.secret, self.old_secrets = new_secret, kept[-MAX_OLD_SECRETS:]

    def signing_keys(self, now_ms: int) -> list[str]:
        """The current key first, then every old key that has not expired yet."""
        return [self.secret, *(s.key for s in self.old_secrets if s.expires_at > now_ms)]


@dataclass(slots=True)
class Message:
    id: str
    app_id: str
    event_type: str
    payload: bytes | None
    event_id: str | None = None
    channels: list[str] | None = None
    tags: list[str] | None = None
    created_at: int = 0
    headers: dict[str, str] | None = None  # a received request's original headers (sources)
    deliver_at: int | None = None  # scheduled send: no delivery is due before it
    # the publish span's W3C trace context (None when tracing is off)
    traceparent: str | None = None
    tracestate: str | None = None


@dataclass(slots=True)
class Delivery:
    id: str
    msg_id: str
    endpoint_id: str
    app_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int | None
    trigger: TriggerType = TriggerType.SCHEDULED
    created_at: int = 0
    updated_at: int = 0


@dataclass(slots=True)
class Attempt:
    id: str
    delivery_id: str
    msg_id: str
    endpoint_id: str
    app_id: str
    url: str
    status: DeliveryStatus
    response_status: int
    response_body: str
    duration_ms: int
    error_kind: ErrorKind | None
    trigger: TriggerType
    created_at: int
    # what was sent and what came back, for the attempt page; None on attempts recorded
    # before the columns existed (and response headers when there was no response)
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None


@dataclass(slots=True)  # not frozen: built per delivery, and frozen init costs
class DeliveryTask:
    """Everything a worker needs to send one claimed delivery, read in one go."""

    delivery_id: str
    attempts: int
    trigger: TriggerType
    msg_id: str
    app_id: str
    event_type: str
    payload: bytes
    msg_created_at: int
    endpoint_id: str
    url: str
    headers: Mapping[str, str]
    signing_keys: tuple[str, ...]
    app_uid: str | None = None
    endpoint_uid: str | None = None
    event_id: str | None = None
    # the lease this task was claimed under (with the worker's owner id): its result counts
    # only while the delivery row still carries this lease
    lease_until: int = 0
    # a received request's original headers (lower-case names; None for published
    # messages), and which of them the endpoint passes on (lower-case)
    original_headers: Mapping[str, str] | None = None
    forward_headers: tuple[str, ...] = ()
    # the message's event type's retry delays (seconds); None: the server's schedule
    retry_schedule: tuple[float, ...] | None = None
    # the publish's trace context (parent of the attempt's span), and whether the
    # endpoint takes the attempt's own context in a ``traceparent`` header
    traceparent: str | None = None
    tracestate: str | None = None
    send_traceparent: bool = False


@dataclass(slots=True)  # not frozen: built per delivery, and frozen init costs
class DeliveryResult:
    """The outcome of one send, with the follow-up already decided by the retry policy.

    ``next_attempt_at`` set means retry then; None means final (``attempt.status``
    says success or failure). ``disable_endpoint`` is set for 410 Gone. ``lease_until``
    is the claimed task's lease: a result whose lease is gone is dropped, not recorded.
    """

    attempt: Attempt
    next_attempt_at: int | None
    disable_endpoint: bool = False
    attempt_number: int = 1
    event_id: str | None = None
    lease_until: int = 0


@dataclass(slots=True)  # not frozen: built per delivery, and frozen init costs
class ReadyEndpoint:
    """An endpoint with due work, and what limits how much of it may start now."""

    endpoint_id: str
    app_id: str
    max_in_flight: int | None
    rate_limit: int | None
    app_rate_limit: int | None
    fifo: bool
    breaker_state: int
    next_due_at: int


@dataclass(slots=True, frozen=True)
class EndpointStats:
    """Per-endpoint health, readable through the API."""

    pending: int
    sending: int
    success: int
    fail: int
    breaker_state: int
    failure_streak: int
    paused_until: int | None
    failing_since: int | None
    last_success_at: int | None
    attempts_last_hour: int
    successes_last_hour: int
    attempts_last_day: int
    successes_last_day: int


@dataclass(frozen=True, slots=True)
class TrafficBucket:
    """One bucket of a traffic chart (``Store.traffic``)."""

    start_ms: int
    messages: int  # messages published in the bucket (for an endpoint: deliveries created for it)
    succeeded: int  # attempts that succeeded
    failed: int  # attempts that did not
    p50_ms: int | None  # attempt duration percentiles in the bucket; None with no attempts
    p95_ms: int | None


@dataclass(frozen=True, slots=True)
class QueueSummary:
    waiting: int  # deliveries not final (pending/retrying), not being sent
    sending: int  # leased right now
    oldest_waiting_at: int | None  # created_at (ms) of the oldest waiting delivery


@dataclass(frozen=True, slots=True)
class QueueGauges:
    """What a metrics scrape reads from the store (``Store.queue_gauges``)."""

    ready: int  # due now (or a lease ran out), not being sent
    scheduled: int  # waiting for a retry or a ``deliverAt`` time
    sending: int  # leased right now
    parked: int  # held while their endpoint is disabled
    oldest_ready_at: int | None  # created_at (ms) of the oldest ready delivery
    endpoints_active: int  # enabled, breaker closed
    endpoints_disabled: int
    endpoints_breaker_open: int  # enabled, breaker open or probing


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    endpoint_id: str
    app_id: str
    url: str
    disabled: bool
    breaker_open: bool
    succeeded: int  # attempts in the window
    failed: int
    last_failure_at: int | None
    last_error: str | None  # error kind or "HTTP 503" of the latest failed attempt
    volume: list[int]  # attempts per bucket across the window, oldest first (a sparkline)


@dataclass(frozen=True, slots=True)
class MessageSearch:
    """The message log's filters (``Store.search_messages``); every one given must hold."""

    event_types: list[str] | None = None
    status: DeliveryStatus | None = None  # messages with at least one delivery in that status
    endpoint_id: str | None = None  # messages delivered (or to be) to that endpoint
    since_ms: int | None = None
    until_ms: int | None = None
    ref: str | None = None  # a message id or an eventId
    text: str | None = None  # substring of the payload (case-sensitive)


@dataclass(slots=True, frozen=True)
class Page(Generic[T]):
    data: list[T]
    iterator: str | None
    prev_iterator: str | None
    done: bool


class TaskKind(enum.StrEnum):
    """Svix's BackgroundTaskType values for the jobs hookline runs."""

    RECOVER = "endpoint.recover"
    REPLAY = "endpoint.replay"
    BULK_REPLAY = "endpoint.bulk-replay"
    PURGE_CONTENT = "application.purge_content"  # expunge every payload of an application


class TaskStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(slots=True, frozen=True)
class TaskParams:
    """Which messages a recovery or replay job walks: created in [since_ms, until_ms).

    The filters beyond the range apply to bulk replays; ``status`` and
    ``status_code_class`` look at the message's latest delivery/attempt to the endpoint.
    """

    since_ms: int
    until_ms: int
    event_types: tuple[str, ...] | None = None
    channel: str | None = None
    tag: str | None = None
    status: DeliveryStatus | None = None
    status_code_class: int | None = None


@dataclass(slots=True)
class BackgroundTask:
    """A long job run in chunks; ``cursor`` is the last message id handled, so a
    restarted runner continues where the previous one stopped."""

    id: str
    kind: TaskKind
    status: TaskStatus
    app_id: str
    endpoint_id: str | None  # None: an application-wide task (expunge-all)
    params: TaskParams
    cursor: str | None = None
    done_count: int = 0
    error: str | None = None
    created_at: int = 0
    updated_at: int = 0


class AccessKind(enum.StrEnum):
    """What an ``AccessToken`` row is: a browser session, a portal magic link (used
    once), or a portal API token (a bearer token scoped to one application)."""

    SESSION = "session"
    PORTAL_LINK = "portal_link"
    PORTAL_TOKEN = "portal_token"
    API_KEY = "api_key"  # created at /api/v1/auth/api-token: the server or one application
    INTEGRATION = "integration"  # Svix's integration key: one application


PORTAL_KINDS = (AccessKind.SESSION, AccessKind.PORTAL_LINK, AccessKind.PORTAL_TOKEN)
KEY_KINDS = (AccessKind.API_KEY, AccessKind.INTEGRATION)
NEVER_MS = 253402300799999  # 9999-12-31T23:59:59.999Z: a key without an expiry


@dataclass(slots=True)
class AccessToken:
    """A credential other than the admin token, stored only as a SHA-256 hash.

    ``app_id`` None means the whole server (an operator's dashboard session); otherwise
    the holder sees that one application, as ``capabilities`` and ``read_only`` allow.
    Rows of one portal grant (its link, its API token and the sessions the link
    started) share ``grant_id``, so revoking the grant reaches all of them."""

    id: str
    kind: AccessKind
    token_hash: str
    app_id: str | None
    capabilities: list[str]
    read_only: bool
    created_at: int
    expires_at: int
    grant_id: str | None = None
    label: str | None = None  # Svix's sessionId: expire-all can name the ones to end
    used_at: int | None = None  # a link: redeemed; a key: last used (throttled)
    # API keys and integrations: shown in lists; ``hint`` is the censored token
    name: str | None = None
    hint: str | None = None
    feature_flags: list[str] | None = None
    updated_at: int | None = None
