"""The declared schema, one source for every SQL backend.

Migrations must produce exactly this (a test diffs them); the stores write their
own SQL against these names. Times are integer milliseconds, JSON columns are text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

application = Table(
    "application",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("uid", String(256), nullable=True, unique=True),
    Column("name", Text, nullable=False),
    Column("rate_limit", Integer, nullable=True),
    Column("metadata", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # bumped by every update, so concurrent updates cannot overwrite each other unseen
    Column("version", Integer, nullable=False, server_default=text("1")),
)

event_type = Table(
    "event_type",
    metadata,
    Column("name", String(256), primary_key=True),
    Column("description", Text, nullable=False),
    Column("schemas", Text, nullable=True),
    Column("archived", Boolean, nullable=False),
    Column("deprecated", Boolean, nullable=False),
    Column("feature_flag", String(256), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("group_name", String(256), nullable=True),
    Column("feature_flags", Text, nullable=True),  # JSON list
    Column("retry_schedule", Text, nullable=True),  # JSON list of seconds
)

endpoint = Table(
    "endpoint",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("app_id", String(40), nullable=False),
    Column("uid", String(256), nullable=True),
    Column("url", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("event_types", Text, nullable=True),
    Column("channels", Text, nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("rate_limit", Integer, nullable=True),
    Column("secret", Text, nullable=False),
    Column("old_secrets", Text, nullable=False),
    Column("headers", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("max_in_flight", Integer, nullable=True),
    Column("fifo", Boolean, nullable=False, server_default=false()),
    Column("payload_filter", Text, nullable=True),
    # names of a received request's original headers to pass on (JSON list), for sources
    Column("forward_headers", Text, nullable=True),
    # sendTraceparent: the delivery attempt's W3C trace context goes to the subscriber
    Column("send_traceparent", Boolean, nullable=False, server_default=false()),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("app_id", "uid", name="uq_endpoint_app_uid"),
    Index("ix_endpoint_app", "app_id", "id"),
)

message = Table(
    "message",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("app_id", String(40), nullable=False),
    Column("event_type", String(256), nullable=False),
    Column("event_id", String(256), nullable=True),
    Column("payload", LargeBinary, nullable=True),
    Column("channels", Text, nullable=True),
    Column("tags", Text, nullable=True),
    # a received request's original headers (JSON object), for endpoints that forward some
    Column("headers", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # deliverAt: no delivery of the message is due before it (NULL: at once)
    Column("deliver_at", BigInteger, nullable=True),
    # the publish span's W3C trace context, parent of its delivery attempts' spans
    Column("traceparent", Text, nullable=True),
    Column("tracestate", Text, nullable=True),
    UniqueConstraint("app_id", "event_id", name="uq_message_app_event_id"),
    Index("ix_message_app", "app_id", "id"),
)

delivery = Table(
    "delivery",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("msg_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("status", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("trigger", Integer, nullable=False),
    Column("next_attempt_at", BigInteger, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_delivery_msg", "msg_id", "endpoint_id"),
    # the per-endpoint queue: due rows in time order (claims), live rows in id order (FIFO)
    Index("ix_delivery_endpoint_due", "endpoint_id", "next_attempt_at"),
    Index("ix_delivery_endpoint_status", "endpoint_id", "status", "id"),
)

# One row per endpoint: when it next has due work, and the breaker that may hold it back.
# The worker picks endpoints from here first, so one endpoint's backlog or outage never
# stands in front of another's work.
endpoint_state = Table(
    "endpoint_state",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("app_id", String(40), nullable=False),
    Column("next_due_at", BigInteger, nullable=True),
    Column("paused_until", BigInteger, nullable=True),
    Column("breaker_state", Integer, nullable=False),
    Column("failure_streak", Integer, nullable=False),
    Column("cooldown_ms", BigInteger, nullable=False),
    Column("failing_since", BigInteger, nullable=True),
    Column("last_success_at", BigInteger, nullable=True),
    # the endpoint's throttleRate bucket, shared by every worker process: tokens left at
    # tokens_at (NULL: full); the claim refills, takes and writes it in its transaction
    Column("tokens", Float, nullable=True),
    Column("tokens_at", BigInteger, nullable=True),
    Index("ix_endpoint_state_due", "next_due_at"),
)

# The application-wide throttleRate bucket, as endpoint_state's, one row per throttled app.
app_state = Table(
    "app_state",
    metadata,
    Column("app_id", String(40), primary_key=True),
    Column("tokens", Float, nullable=True),
    Column("tokens_at", BigInteger, nullable=True),
)

# A message whose deliveries are still being created, in the background, in batches: the
# publish stores the message and this row in one transaction, and each batch inserts the
# deliveries to the next endpoints after ``cursor`` (endpoint ids, in order) and moves the
# cursor in the same transaction. The row goes when the last batch is written.
fanout = Table(
    "fanout",
    metadata,
    Column("msg_id", String(40), primary_key=True),
    Column("app_id", String(40), nullable=False),
    Column("cursor", String(40), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

background_task = Table(
    "background_task",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("app_id", String(40), nullable=True),
    Column("endpoint_id", String(40), nullable=True),
    Column("params", Text, nullable=False),
    Column("cursor", String(64), nullable=True),
    Column("done_count", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_background_task_status", "status", "id"),
)

attempt = Table(
    "attempt",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("delivery_id", String(40), nullable=False),
    Column("msg_id", String(40), nullable=False),
    Column("endpoint_id", String(40), nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("url", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("response_status", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("error_kind", String(32), nullable=True),
    Column("trigger", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("request_headers", Text, nullable=True),  # JSON object, secrets masked
    Column("response_headers", Text, nullable=True),  # JSON object
    Index("ix_attempt_msg", "msg_id", "id"),
    Index("ix_attempt_endpoint", "endpoint_id", "id"),
)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_idempotency_key_created", "created_at"),
)

# An inbound source: a provider's webhooks arrive at /in/{token} and become messages of
# the source's own application (app_id), created with it. The token is found by its hash;
# the token itself and the provider config (which holds secrets) are sealed.
source = Table(
    "source",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("uid", String(256), nullable=True, unique=True),
    Column("name", Text, nullable=False),
    Column("provider", String(64), nullable=False),
    Column("config", Text, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token", Text, nullable=False),
    Column("dedup_window_ms", BigInteger, nullable=False),
    Column("app_id", String(40), nullable=False, unique=True),
    Column("metadata", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Every request that reached a source, stored before it is answered: the raw request, the
# verdict, and once routed the message it became. routed_at IS NULL on an accepted row is
# the routing queue, so a crash after the answer only delays routing.
inbound_request = Table(
    "inbound_request",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("source_id", String(40), nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text, nullable=False),
    # credential header values are "***" here; the values are sealed in sealed_headers
    Column("headers", Text, nullable=False),
    Column("body", LargeBinary, nullable=True),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=True),
    Column("status_code", Integer, nullable=False),
    Column("event_type", String(256), nullable=True),
    Column("dedup_key", String(256), nullable=True),
    Column("msg_id", String(40), nullable=True),
    Column("received_at", BigInteger, nullable=False),
    Column("routed_at", BigInteger, nullable=True),
    # replays so far: the message of replay n carries event id "{id}.r{n}", so a crash
    # between publishing and marking the row routed cannot route it twice
    Column("replays", Integer, nullable=False, server_default=text("0")),
    # the credential headers' values as one sealed JSON object; NULL when there are none
    # or once the body has expired (nothing is left to verify them against)
    Column("sealed_headers", Text, nullable=True),
    Index("ix_inbound_request_source", "source_id", "id"),
    Index("ix_inbound_request_unrouted", "routed_at", "verdict", "id"),
    # the key rotation walks only the rows that hold a sealed value
    Index(
        "ix_inbound_request_sealed",
        "id",
        sqlite_where=text("sealed_headers IS NOT NULL"),
        postgresql_where=text("sealed_headers IS NOT NULL"),
    ),
    # a routed request by its message: expunging the message drops its body too
    Index(
        "ix_inbound_request_msg",
        "msg_id",
        sqlite_where=text("msg_id IS NOT NULL"),
        postgresql_where=text("msg_id IS NOT NULL"),
    ),
)

# The dedup window: one row per (source, key) seen, replaced once older than the window.
inbound_dedup = Table(
    "inbound_dedup",
    metadata,
    Column("source_id", String(40), primary_key=True),
    Column("dedup_key", String(256), primary_key=True),
    Column("request_id", String(40), nullable=False),
    Column("seen_at", BigInteger, nullable=False),
    Index("ix_inbound_dedup_seen", "seen_at"),
)

# Browser sessions and consumer-portal credentials, as SHA-256 hashes only.
access_token = Table(
    "access_token",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("grant_id", String(40), nullable=True),
    Column("app_id", String(40), nullable=True),
    Column("capabilities", Text, nullable=False),  # JSON list
    Column("read_only", Boolean, nullable=False),
    Column("label", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Column("name", String(256), nullable=True),
    Column("hint", String(64), nullable=True),
    Column("feature_flags", Text, nullable=True),  # JSON list
    Column("updated_at", BigInteger, nullable=True),
    Index("ix_access_token_app", "app_id", "expires_at"),
    Index("ix_access_token_expires", "expires_at"),
)

# The dashboard's chart rollups, folded in from message, delivery and attempt rows by the
# maintenance loop (``insight_cursor`` holds how far): per minute and per hour, for every
# application together (scope "*"), each application and each endpoint (``kind`` 0/1/2).
insight_rollup = Table(
    "insight_rollup",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("grain_ms", BigInteger, primary_key=True),
    Column("start_ms", BigInteger, primary_key=True),
    Column("kind", Integer, nullable=False),
    Column("app_id", String(40), nullable=False),
    Column("messages", Integer, nullable=False),
    Column("succeeded", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("max_ms", Integer, nullable=False),
    Column("latency", Text, nullable=False),  # JSON list: the latency histogram's counts
    Index("ix_insight_rollup_time", "grain_ms", "start_ms"),
)

insight_cursor = Table(
    "insight_cursor",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("cursor", String(40), nullable=False),
)

# Each endpoint's latest failed attempt, as folded (the attempts past the cursor are read).
insight_failure = Table(
    "insight_failure",
    metadata,
    Column("endpoint_id", String(40), primary_key=True),
    Column("last_failure_at", BigInteger, nullable=False),
    Column("last_error", String(64), nullable=False),
)

# Where each consumer of a polling endpoint has acknowledged reading up to (a message id
# or a time's boundary id); deleted with the endpoint and with the application.
poll_consumer = Table(
    "poll_consumer",
    metadata,
    Column("app_id", String(40), primary_key=True),
    Column("endpoint_id", String(40), primary_key=True),
    Column("consumer_id", String(256), primary_key=True),
    Column("cursor", String(40), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_poll_consumer_endpoint", "endpoint_id"),
)

# Each running worker process's last sign of life (upserted every
# HOOKLINE_HEARTBEAT_SECONDS, deleted on a clean stop); the readiness probe reads the newest.
worker_heartbeat = Table(
    "worker_heartbeat",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("pid", Integer, primary_key=True),
    Column("seen_at", BigInteger, nullable=False),
)
