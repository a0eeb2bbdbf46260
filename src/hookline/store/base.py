"""The storage contract, in domain verbs.

Every layer above the store imports this protocol, never a concrete store. Writes
that belong together (a message and its fan-out, a batch of attempt results) are one
verb, so each backend can make them one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hookline.breaker import HealthPolicy
from hookline.models import (
    AccessKind,
    AccessToken,
    Application,
    Attempt,
    BackgroundTask,
    Delivery,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    Endpoint,
    EndpointHealth,
    EndpointStats,
    EventType,
    Message,
    MessageSearch,
    Page,
    QueueGauges,
    QueueSummary,
    ReadyEndpoint,
    TaskKind,
    TaskStatus,
    TrafficBucket,
)
from hookline.sources import (
    CREDENTIAL_HEADERS,
    InboundFilter,
    InboundRequest,
    Source,
    Verdict,
)
from hookline.store.records import (
    BACK,
    DEFAULT_MAX_IN_FLIGHT,
    IDEMPOTENCY_TTL_MS,
    NAME_KEY,
    Attempted,
    AttemptFilter,
    ClaimAsk,
    FanoutStep,
    MessageFilter,
    MessageRef,
    PageRequest,
    Plan,
    PublishKey,
    PublishOutcome,
    PurgeBatch,
    StoredResponse,
    StreamFilter,
    StreamPage,
)

__all__ = [
    "BACK",
    "DEFAULT_MAX_IN_FLIGHT",
    "IDEMPOTENCY_TTL_MS",
    "NAME_KEY",
    "AttemptFilter",
    "Attempted",
    "ClaimAsk",
    "FanoutStep",
    "MessageFilter",
    "MessageRef",
    "PageRequest",
    "Plan",
    "PublishKey",
    "PublishOutcome",
    "PurgeBatch",
    "Store",
    "StoredResponse",
    "StreamFilter",
    "StreamPage",
]


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None:
        """Return once the store has served a trivial read and a trivial write; raise
        ``StoreError`` if it cannot. Cheap enough for every health probe."""
        ...

    # worker heartbeats (the readiness probe)
    async def beat(self, name: str, host: str, pid: int, now_ms: int) -> None: ...
    async def end_beat(self, name: str, host: str, pid: int) -> None: ...
    async def last_beat(self) -> int | None: ...

    # applications
    async def create_application(self, app: Application) -> Application: ...
    async def get_application(self, ref: str) -> Application: ...
    async def list_applications(
        self, page: PageRequest, *, search: str | None = None, with_endpoints: bool = False
    ) -> Page[Application]:
        """``search``: the id or uid exactly, or a substring of the name or uid (any case);
        ``with_endpoints``: only applications with at least one endpoint. Filtered in SQL
        as the keyset walks, so pages stay full and iterators valid."""
        ...

    async def update_application(self, app: Application) -> Application:
        """Optimistic: applies only while the row is at ``app.version`` (else
        ``VersionConflict``, nothing written); returns the record at its new version."""
        ...

    async def delete_application(self, app_id: str) -> None:
        """Everything under it too; a source's application is a ``Conflict`` (it goes
        with its source)."""
        ...

    # event types
    async def create_event_type(self, event_type: EventType) -> EventType: ...
    async def get_event_type(self, name: str) -> EventType: ...
    async def list_event_types(
        self, page: PageRequest, include_archived: bool
    ) -> Page[EventType]: ...
    async def update_event_type(self, event_type: EventType) -> EventType: ...
    async def delete_event_type(self, name: str) -> None: ...
    async def all_event_types(self, include_archived: bool) -> list[EventType]:
        """The whole catalogue by name (an export; catalogues are small)."""
        ...

    async def import_event_types(
        self, found: Sequence[EventType], archive_rest: bool, dry_run: bool, now_ms: int
    ) -> list[str]:
        """Create or update (and unarchive) each of ``found`` in one transaction, keeping
        an existing type's creation time and retry schedule; with ``archive_rest``, archive
        every other live type. Returns the names whose row changed (or would, when
        ``dry_run``, which writes nothing)."""
        ...

    # endpoints
    async def create_endpoint(self, endpoint: Endpoint) -> Endpoint: ...
    async def get_endpoint(self, app_id: str, ref: str) -> Endpoint: ...
    async def list_endpoints(
        self, app_id: str, page: PageRequest, *, search: str | None = None
    ) -> Page[Endpoint]:
        """``search``: the id or uid exactly, or a substring of the URL or description
        (any case); walks only this application's endpoints."""
        ...

    async def update_endpoint(self, endpoint: Endpoint) -> Endpoint:
        """Optimistic, as ``update_application``; the worker's disable moves the version
        too, so no update read before it can re-enable the endpoint unseen."""
        ...

    async def delete_endpoint(self, app_id: str, endpoint_id: str) -> None: ...

    # messages
    async def publish(
        self,
        message: Message,
        now_ms: int,
        new_app: Application | None = None,
        idempotency: PublishKey | None = None,
    ) -> PublishOutcome:
        """Store ``message`` and its fan-out in one transaction: its deliveries, or for an
        application with many endpoints a pending fan-out that ``fan_out`` completes (the
        cost of a publish is bounded whatever the number of endpoints). ``new_app`` (the
        application the caller's reference names, with that reference as its uid) is
        created first, unless an application with that uid exists by now (a concurrent
        first publish): then the message goes to that one. Never to an application
        matched any other way.

        ``idempotency``: if the key answered within ``IDEMPOTENCY_TTL_MS``, nothing is
        written and the outcome carries the stored answer (``replayed``, with the message
        as it is now); otherwise the key is stored with the message, in the same
        transaction, so concurrent or retried repeats never publish twice."""
        ...

    async def publish_to_endpoint(
        self, message: Message, endpoint_id: str, now_ms: int
    ) -> PublishOutcome:
        """Store ``message`` with a delivery to that one endpoint only (an endpoint's test
        event), in one transaction; signed and retried like any delivery. ``NotFound`` if
        the endpoint is not in the message's application, ``Conflict`` if it is disabled;
        then nothing is written."""
        ...

    async def get_message(self, app_id: str, msg_id: str) -> Message: ...
    async def list_messages(
        self, app_id: str, flt: MessageFilter, page: PageRequest
    ) -> Page[Message]: ...
    async def resend(self, app_id: str, msg_id: str, endpoint_id: str, now_ms: int) -> Delivery: ...

    # message streams read by polling (``store/sql_poll.py``)
    async def read_stream(
        self, app_id: str, after: str, below: str, flt: StreamFilter, limit: int
    ) -> StreamPage:
        """Up to ``limit`` of the application's messages that ``flt`` keeps, with ids
        after ``after`` and below ``below`` (the settled bound), oldest first."""
        ...

    async def poll_cursor(self, app_id: str, endpoint_id: str, consumer_id: str) -> str | None:
        """The cursor a polling endpoint's consumer last committed, None if none."""
        ...

    async def commit_poll_cursor(
        self,
        app_id: str,
        endpoint_id: str,
        consumer_id: str,
        cursor: str,
        now_ms: int,
        *,
        seek: bool = False,
    ) -> str:
        """Move the consumer's cursor forward to ``cursor`` (either way with ``seek``);
        returns the stored cursor. NotFound unless the endpoint is a polling endpoint
        of the application."""
        ...

    # background fan-out
    async def pending_fanouts(self, limit: int) -> list[str]:
        """Ids of messages whose fan-out is unfinished, oldest first."""
        ...

    async def fan_out(self, msg_id: str, now_ms: int, batch_size: int) -> FanoutStep:
        """Create the deliveries of the next ``batch_size`` endpoints of a message's
        fan-out and move its cursor, in one transaction; concurrent calls for one message
        serialise on its fanout row (SQLite's single writer; ``FOR UPDATE SKIP LOCKED`` on
        a shared backend), so none creates a delivery twice. Endpoints enabled and
        subscribed when the batch runs and created no later than the message get one."""
        ...

    async def wait_for_fanout(self, timeout: float) -> None:
        """Return when a fan-out may have appeared, or after ``timeout``."""
        ...

    # delivery engine
    async def ready_endpoints(
        self, now_ms: int, limit: int, exclude: Sequence[str] = ()
    ) -> list[ReadyEndpoint]:
        """Endpoints with due work and no pause, longest-waiting first, except ``exclude``
        (those the caller knows it has saturated). Read outside the claim's transaction,
        so only a hint: ``claim`` checks every limit again."""
        ...

    async def ready_tunnel(self, endpoint_id: str, now_ms: int) -> ReadyEndpoint | None:
        """A tunnel endpoint (``tunnel://``) with due work and no pause, for its connected
        listener to ``claim`` from; None otherwise. ``ready_endpoints`` never lists one."""
        ...

    async def claim(
        self,
        owner: str,
        plan: Sequence[tuple[ReadyEndpoint, int]],
        now_ms: int,
        lease_ms: int,
        default_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> list[DeliveryTask]:
        """Lease up to n due deliveries per planned endpoint, in one transaction, within
        the endpoint's limits as they stand in the store, whichever process holds its
        other deliveries: at most its ``maxInFlight`` (else ``default_max_in_flight``)
        sending under an unexpired lease, one at a time for a FIFO endpoint and for an
        open breaker's probe, and no more than its and its application's
        ``throttleRate`` buckets hold (charged for what is leased). An endpoint left
        with due work and no tokens is paused until its next token."""
        ...

    async def record_and_claim(
        self,
        owner: str,
        results: Sequence[DeliveryResult],
        now_ms: int,
        policy: HealthPolicy,
        ask: ClaimAsk,
    ) -> tuple[int, list[DeliveryTask]]:
        """``record_results`` and then ``claim`` (as ``ask`` plans it over the endpoints
        ready once the results are in) in one transaction: a busy worker's cycle costs
        one commit, not two. Returns the stale results dropped, and the tasks leased."""
        ...

    async def record_results(
        self,
        owner: str,
        results: Sequence[DeliveryResult],
        now_ms: int,
        policy: HealthPolicy,
    ) -> int:
        """Record the results whose delivery is still leased as it was claimed: sending,
        by ``owner``, until the task's ``lease_until``. The others are stale (the lease ran
        out and the row was claimed again, or finished) and write nothing at all: no
        attempt, no delivery change, no breaker move, no event. Returns how many."""
        ...

    async def release(self, owner: str, now_ms: int) -> None: ...
    async def wait_for_work(self, timeout: float) -> None: ...
    async def next_due_at(self) -> int | None: ...
    async def endpoint_stats(self, endpoint_id: str, now_ms: int) -> EndpointStats: ...

    # attempts
    async def list_attempts(
        self, app_id: str, flt: AttemptFilter, page: PageRequest, msg_id: str | None = None
    ) -> Page[Attempt]: ...
    async def count_attempts(self, app_id: str, flt: AttemptFilter, ceiling: int) -> int: ...
    async def get_attempt(self, app_id: str, msg_id: str, attempt_id: str) -> Attempt: ...
    async def list_deliveries(self, app_id: str, msg_id: str) -> list[Delivery]: ...
    async def messages_by_id(self, app_id: str, msg_ids: Sequence[str]) -> dict[str, Message]: ...

    # where messages went: the latest delivery per (message, endpoint)
    async def list_attempted_messages(
        self,
        app_id: str,
        endpoint_id: str,
        flt: MessageFilter,
        status: DeliveryStatus | None,
        page: PageRequest,
    ) -> Page[tuple[Message, Attempted]]: ...
    async def list_attempted_destinations(
        self, app_id: str, msg_id: str, page: PageRequest
    ) -> Page[tuple[Endpoint, Attempted]]: ...
    async def has_active_endpoint(
        self, app_id: str, event_type: str, channels: list[str] | None
    ) -> bool:
        """Whether a message of this type and channels would reach an enabled endpoint
        (publish's subscription test; an endpoint with a payload filter counts)."""
        ...

    # expunge: payloads and response bodies gone for good (see ``sql_expunge``)
    async def expunge_message(self, app_id: str, msg_ref: str) -> None: ...
    async def bulk_expunge(self, app_id: str, msg_refs: Sequence[str]) -> dict[str, bool]: ...
    async def expunge_attempt_content(self, app_id: str, msg_id: str, attempt_id: str) -> None: ...

    # dashboard reads: charts, health, the message log, the live tail
    async def traffic(
        self,
        since_ms: int,
        until_ms: int,
        bucket_ms: int,
        *,
        app_id: str | None = None,
        endpoint_id: str | None = None,
    ) -> list[TrafficBucket]:
        """Every bucket of ``[since_ms, until_ms)``, zeros included, oldest first, for
        every application (``app_id`` None; the operational application left out), one
        application, or one endpoint. Buckets start at multiples of ``bucket_ms`` (UTC),
        the first holding ``since_ms``, and each counts its whole span; ``bucket_ms`` is
        a whole number of minutes (else ``ValueError``). Percentiles come from a latency
        histogram: the bound of the histogram bucket that holds the rank, no more than
        the largest duration seen (see ``store.insight_math``)."""
        ...

    async def attempts_by_event_type(
        self, app_id: str, since_ms: int, until_ms: int
    ) -> dict[str, tuple[int, int]]:
        """(successes, failures) per event type of the application's attempts made in
        ``[since_ms, until_ms)``."""
        ...

    async def count_active_apps(self, exclude_disabled: bool) -> int: ...
    async def endpoint_counts(self) -> tuple[int, int]:
        """(enabled, disabled) endpoints of every application."""
        ...

    async def queue_summary(self, now_ms: int, *, app_id: str | None = None) -> QueueSummary: ...
    async def queue_gauges(self, now_ms: int) -> QueueGauges:
        """The queue by state and the endpoints by state, every application but the
        operational one: read at a metrics scrape (cached by the caller)."""
        ...

    async def endpoint_health(
        self, endpoint_ids: Sequence[str], since_ms: int, until_ms: int, bucket_ms: int
    ) -> dict[str, EndpointHealth]:
        """For a page of endpoints: state, attempts in the window and a volume sparkline
        (buckets as ``traffic``); ids not found are absent."""
        ...

    async def failing_endpoints(
        self, since_ms: int, now_ms: int, limit: int, *, app_id: str | None = None
    ) -> list[EndpointHealth]:
        """Endpoints with failed attempts since ``since_ms``, an open breaker, or disabled
        while failing; worst first (disabled, then breaker open, then most failures).
        Their ``volume`` has one bucket: the window."""
        ...

    async def search_messages(
        self, query: MessageSearch, page: PageRequest, *, app_id: str | None
    ) -> Page[Message]:
        """The message log, newest first (``page.reverse`` is ignored). ``iterator`` is an
        id: the page continues with older messages; ``prev_iterator`` is ``-`` and an id:
        passed back as ``iterator`` it gives the newer messages before that one (still
        newest first). ``app_id`` None searches every application (the operational one
        left out). ``status`` with ``endpoint_id``: a delivery to that endpoint in that
        status. ``ref`` is an exact message id or eventId.

        Filters that no index serves (text, event types, status, endpoint) examine at
        most ``SEARCH_SCAN_ROWS`` messages per call: a page may come back short, or
        empty, and not ``done``; its iterator continues the scan where it stopped, so
        following iterators visits every match once and no call scans the whole log."""
        ...

    async def attempts_after(
        self, after_id: str | None, limit: int, *, app_id: str | None = None
    ) -> list[Attempt]:
        """The live tail: attempts with id > ``after_id``, oldest first; with None, the
        newest ``limit`` (oldest first)."""
        ...

    async def fold_insights(self, before_ms: int, limit: int) -> int:
        """Fold up to ``limit`` messages, deliveries and attempts each, with ids older
        than ``before_ms``, into the chart rollups (by id cursor, in one transaction);
        the rows folded. A row committed after the fold passed its id is never counted,
        so ``before_ms`` must lag behind now by more than a lease (an attempt is
        recorded within its delivery's lease or not at all). Reads combine the rollups
        with the rows not folded yet, so charts are current whether or not this ran."""
        ...

    # idempotency of POSTs other than publish (``publish`` keeps its key itself)
    async def begin_idempotent(self, key: str, now_ms: int) -> StoredResponse | None:
        """Reserve ``key``; None means the caller owns it now. Otherwise the stored
        response comes back, with status 0 while the first request is still running."""
        ...

    async def forget_idempotent(self, key: str) -> None: ...
    async def expire_idempotency_keys(self, now_ms: int, limit: int) -> int:
        """Delete up to ``limit`` keys (answered or abandoned) older than
        ``IDEMPOTENCY_TTL_MS``, oldest first, in one transaction; the count deleted."""
        ...

    async def get_idempotent_response(self, key: str, now_ms: int) -> StoredResponse | None: ...
    async def save_idempotent_response(
        self, key: str, response: StoredResponse, now_ms: int
    ) -> None: ...

    # background tasks and retention
    async def create_task(self, task: BackgroundTask) -> BackgroundTask: ...
    async def get_task(self, task_id: str) -> BackgroundTask: ...
    async def list_tasks(
        self,
        page: PageRequest,
        status: TaskStatus | None = None,
        kind: TaskKind | None = None,
    ) -> Page[BackgroundTask]: ...
    async def running_tasks(self) -> list[BackgroundTask]: ...
    async def advance_task(self, task_id: str, now_ms: int, chunk: int) -> BackgroundTask:
        """Handle the next ``chunk`` messages of a running task in one transaction:
        queue their deliveries and move the cursor together, so a crash repeats nothing.
        Concurrent calls for one task must serialise (SQLite's single writer does; a
        shared backend locks the task row)."""
        ...

    async def purge_expired(
        self, before_ms: int, limit: int, resume: PurgeBatch | None = None
    ) -> PurgeBatch:
        """Drop payloads of messages and response bodies of attempts created before
        ``before_ms``, at most ``limit`` rows of each per call (one transaction)."""
        ...

    # dashboard sessions and consumer-portal credentials (``AccessToken``), by hash
    async def create_access_tokens(self, tokens: Sequence[AccessToken]) -> None: ...
    async def find_access_token(
        self, token_hash: str, kind: AccessKind, now_ms: int
    ) -> AccessToken | None:
        """The unexpired token of that kind with that hash, if any."""
        ...

    async def redeem_access_token(
        self, token_hash: str, kind: AccessKind, now_ms: int
    ) -> AccessToken | None:
        """Mark a one-time token used and return it; None if it is unknown, expired or
        already used (of two concurrent redemptions exactly one succeeds)."""
        ...

    async def delete_access_token(self, token_hash: str) -> None: ...
    async def expire_access_tokens(
        self, app_id: str, at_ms: int, labels: Sequence[str] | None = None
    ) -> int:
        """Every portal credential of the application (only those with a ``label`` in
        ``labels``, when given) expires at ``at_ms`` at the latest; its keys stay."""
        ...

    async def purge_access_tokens(self, now_ms: int, limit: int) -> int:
        """Delete up to ``limit`` expired rows."""
        ...

    # API keys and integration keys (``AccessToken`` rows of KEY_KINDS), by id
    async def list_keys(
        self, kind: AccessKind, app_id: str | None, page: PageRequest
    ) -> Page[AccessToken]: ...
    async def get_key(self, kind: AccessKind, key_id: str, app_id: str | None) -> AccessToken:
        """NotFound unless the key is of that kind (and of ``app_id``, when given)."""
        ...

    async def update_key(self, key: AccessToken) -> AccessToken:
        """Saves name, feature flags, expiry, hash and hint; the scope never changes."""
        ...

    async def delete_key(self, kind: AccessKind, key_id: str) -> None: ...
    async def touch_key(self, key_id: str, at_ms: int) -> None: ...

    # inbound sources: each owns an application, created and deleted with it
    async def create_source(self, source: Source, app: Application) -> Source:
        """Create ``app`` and ``source`` (whose ``app_id`` names it) in one transaction;
        a taken ``uid`` is a ``Conflict``."""
        ...

    async def get_source(self, ref: str) -> Source:
        """By id or uid; ``NotFound`` otherwise."""
        ...

    async def source_by_token(self, token_hash: str) -> Source | None: ...
    async def list_sources(self, page: PageRequest) -> Page[Source]: ...
    async def update_source(self, source: Source) -> Source:
        """Optimistic, as ``update_application``; a new token is a new ``token_hash``."""
        ...

    async def delete_source(self, source_id: str) -> None:
        """The source, its application (endpoints, messages, deliveries) and its requests."""
        ...

    # received requests
    async def intake(
        self,
        request: InboundRequest,
        now_ms: int,
        source_version: int | None = None,
        credentials: frozenset[str] = CREDENTIAL_HEADERS,
    ) -> InboundRequest:
        """Store one received request (committed before this returns: the caller answers
        only after). An accepted request whose ``dedup_key`` the source saw within its
        dedup window is stored as ``duplicate`` instead; the returned record says which.
        Concurrent copies serialise, so exactly one of them is accepted.

        ``source_version``: the version of the source the request was verified against.
        If the source has moved on (a token rotated, a secret removed) this raises
        ``VersionConflict`` and stores nothing, so a cached source is never trusted past
        a change; a deleted source is ``NotFound``.

        ``credentials``: the header names whose values are sealed at rest (the source's
        ``credential_headers``). Only ``unrouted_requests`` opens them again; the other
        reads hand them back as ``***``."""
        ...

    async def unrouted_requests(
        self, limit: int, exclude: Sequence[str] = ()
    ) -> list[InboundRequest]:
        """Accepted or replay-pending requests not yet routed, oldest first, with their
        credential headers opened, so the router can verify them again. ``exclude``: ids
        the caller is holding back (failing ones), so they do not fill every batch."""
        ...

    async def publish_routed(
        self, request_id: str, message: Message, now_ms: int, verdict: Verdict | None = None
    ) -> PublishOutcome:
        """``publish`` a received request's message and mark the request routed to it (or
        to the message its eventId already names, after a crash) in the same transaction;
        ``verdict`` replaces the request's (a replay becomes accepted)."""
        ...

    async def mark_routed(
        self,
        request_id: str,
        now_ms: int,
        msg_id: str | None,
        verdict: Verdict | None = None,
        reason: str | None = None,
    ) -> None: ...

    async def get_inbound_request(self, source_id: str, request_id: str) -> InboundRequest: ...
    async def list_inbound_requests(
        self, source_id: str, flt: InboundFilter, page: PageRequest
    ) -> Page[InboundRequest]: ...
    async def replay_inbound(self, source_id: str, request_id: str, now_ms: int) -> InboundRequest:
        """Queue a stored request to be verified and routed again: verdict ``replay``,
        one more replay, not routed. A request still waiting to be routed is returned
        unchanged; one whose body has expired is a ``Conflict``."""
        ...

    async def wait_for_inbound(self, timeout: float) -> None:
        """Return when a request was stored or queued for replay, or after ``timeout``."""
        ...

    async def expire_inbound(self, before_ms: int, now_ms: int, limit: int) -> int:
        """Drop bodies of requests received before ``before_ms`` and dedup rows whose
        source's window has passed, at most ``limit`` of each; the count changed."""
        ...
