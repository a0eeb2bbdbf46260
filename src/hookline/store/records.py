"""The values the store's verbs take and return: pages, filters, publish outcomes and
keys, claims, idempotent responses, retention batches. Backend-neutral, like the
``Store`` protocol in ``store.base`` that re-exports them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hookline import ids
from hookline.errors import ValidationFailed
from hookline.models import DeliveryStatus, Message, ReadyEndpoint

BACK = "-"
"""An iterator starting with it asks for the page before its key (Svix's prevIterator)."""
AHEAD = "+"
"""Marks a forward iterator whose key itself starts with ``-`` (an event-type name)."""
NAME_KEY = "name"
"""A list keyed by event-type name rather than by id (see ``PageRequest.cursor``)."""
_NAME = re.compile(r"^[a-zA-Z0-9\-_.]{1,256}$")
_ID_PREFIX = re.compile(r"^[a-z]{1,16}$")


@dataclass(slots=True, frozen=True)
class PageRequest:
    """A page of a keyset-paginated list. ``iterator`` is the key of the item the page
    continues after, or ``-`` and a key for the page before it (still in the list's
    order); ``back`` without an iterator starts from the list's far end (``after=``)."""

    limit: int = 50
    iterator: str | None = None
    reverse: bool = False  # the list's order is descending (Svix's default for messages)
    back: bool = False

    def cursor(self, kind: str | None = None) -> tuple[bool, str | None]:
        """(walking back?, key) from the iterator; 422 unless the key is one of this
        list's: an id with prefix ``kind`` (any of ours if None) or, for ``NAME_KEY``,
        an event-type name. A garbage iterator must not read as the first page."""
        if self.iterator is None:
            return self.back, None
        back = self.iterator.startswith(BACK)
        key = self.iterator[1:] if back or self.iterator.startswith(AHEAD) else self.iterator
        if not _fits(key, kind):
            raise ValidationFailed(
                [
                    {
                        "loc": ["query", "iterator"],
                        "msg": "not an iterator of this list",
                        "type": "value_error",
                    }
                ]
            )
        return back, key


def iterator_after(key: str) -> str:
    """The forward iterator continuing after ``key``."""
    return AHEAD + key if key.startswith(BACK) else key


def _fits(key: str, kind: str | None) -> bool:
    if kind == NAME_KEY:
        return _NAME.match(key) is not None
    prefix, sep, _ = key.rpartition("_")
    if not sep or (prefix != kind if kind is not None else not _ID_PREFIX.match(prefix)):
        return False
    try:
        ids.id_timestamp_ms(key)
    except ValueError:
        return False
    return True


@dataclass(slots=True, frozen=True)
class MessageFilter:
    event_types: Sequence[str] | None = None
    channel: str | None = None
    before_ms: int | None = None
    after_ms: int | None = None
    tag: str | None = None


@dataclass(slots=True, frozen=True)
class AttemptFilter:
    status: DeliveryStatus | None = None
    event_types: Sequence[str] | None = None
    channel: str | None = None
    endpoint_id: str | None = None
    before_ms: int | None = None
    after_ms: int | None = None
    tag: str | None = None
    status_code_class: int | None = None  # 0: no response; 100..500: that hundred


@dataclass(slots=True, frozen=True)
class Attempted:
    """A message as one endpoint got it, or an endpoint as one message reached it: the
    latest delivery's status, and when it is next tried (None: nothing more to do)."""

    status: DeliveryStatus
    next_attempt_at: int | None


@dataclass(slots=True, frozen=True)
class PublishOutcome:
    message: Message
    created: bool  # False: an earlier message (same eventId, or a replayed key) returned
    deliveries: int  # created in the publish transaction
    background: bool = False  # a background fan-out creates the deliveries
    replayed: StoredResponse | None = None  # the Idempotency-Key had answered already


@dataclass(slots=True, frozen=True)
class PublishKey:
    """A publish's Idempotency-Key (hashed with what scopes it) and how its answer is
    rendered, kept in the publish transaction itself."""

    key: str
    with_content: bool = True


@dataclass(slots=True, frozen=True)
class FanoutStep:
    deliveries: int  # created by this batch
    done: bool  # the message's fan-out is complete (or the message is gone)
    # nothing could be done now: another process holds the batch, or an older message's
    # fan-out must pass this one's endpoints first
    blocked: bool = False


# Deliveries one endpoint may have in flight unless it sets its own (as Settings' default).
DEFAULT_MAX_IN_FLIGHT = 16

Plan = list[tuple[ReadyEndpoint, int]]


@dataclass(slots=True, frozen=True)
class ClaimAsk:
    """A claim to run in the transaction that records results: the endpoints are read on
    the writer, after the results, so the slots those results free are seen at once and
    one commit does both. ``plan`` is pure (it runs on the store's thread): given the
    ready endpoints it says how many of each to ask for."""

    plan: Callable[[list[ReadyEndpoint]], Plan]
    lease_ms: int
    limit: int = 64  # ready endpoints to look at
    exclude: Sequence[str] = ()
    default_max_in_flight: int = DEFAULT_MAX_IN_FLIGHT


IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000  # how long a key replays its response (as Svix)


@dataclass(slots=True, frozen=True)
class MessageRef:
    """A publish answer kept by reference: the replay renders the message as it is then,
    so no second copy of the payload outlives the message's own retention."""

    app_id: str
    msg_id: str
    with_content: bool


@dataclass(slots=True, frozen=True)
class StoredResponse:
    """A response kept for an Idempotency-Key, replayed on a repeated request: its body,
    or for a publish a reference to the message."""

    status: int
    body: bytes = b""
    message: MessageRef | None = None


@dataclass(slots=True, frozen=True)
class PurgeBatch:
    """One retention batch: rows changed, and how far the walk got in each table.

    Rows up to the cursors are purged already, so the next batch (or the next pass,
    with a later cutoff) starts there instead of rescanning old rows.
    """

    purged: int = 0
    message_cursor: str = ""
    attempt_cursor: str = ""
    done: bool = False


@dataclass(slots=True, frozen=True)
class StreamFilter:
    """What a message stream keeps: a polling endpoint's subscription (event types,
    channels, payload filter) narrowed by the reader's own event type and channel."""

    event_types: Sequence[str] | None = None
    channels: Sequence[str] | None = None
    payload_filter: str | None = None
    event_type: str | None = None
    channel: str | None = None


@dataclass(slots=True, frozen=True)
class StreamPage:
    """Messages after a cursor, oldest first. ``cursor`` is the last message examined
    (matched or not), where the next read starts; ``done``: the settled end was reached."""

    messages: list[Message]
    cursor: str
    done: bool
