"""Row <-> record conversion shared by the SQL stores (column order is fixed here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from hookline.models import (
    Application,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
    ErrorKind,
    EventType,
    Message,
    OldSecret,
    TriggerType,
)
from hookline.signing.at_rest import SecretBox

Row = Sequence[Any]


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as Svix writes timestamps."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def dump_opt(value: Any) -> str | None:
    return None if value is None else dump(value)


def load(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


APP_COLS = "id, uid, name, rate_limit, metadata, created_at, updated_at, version"


def app_from_row(r: Row) -> Application:
    return Application(
        id=r[0],
        uid=r[1],
        name=r[2],
        rate_limit=r[3],
        metadata=load(r[4]),
        created_at=r[5],
        updated_at=r[6],
        version=r[7],
    )


def app_params(a: Application) -> tuple[Any, ...]:
    return (
        a.id,
        a.uid,
        a.name,
        a.rate_limit,
        dump(a.metadata),
        a.created_at,
        a.updated_at,
        a.version,
    )


EVENT_TYPE_COLS = (
    "name, description, schemas, archived, deprecated, feature_flag, created_at, updated_at,"
    " group_name, feature_flags, retry_schedule"
)


def event_type_from_row(r: Row) -> EventType:
    return EventType(
        name=r[0],
        description=r[1],
        schemas=load(r[2]),
        archived=bool(r[3]),
        deprecated=bool(r[4]),
        feature_flag=r[5],
        created_at=r[6],
        updated_at=r[7],
        group_name=r[8],
        feature_flags=load(r[9]),
        retry_schedule=load(r[10]),
    )


def event_type_params(e: EventType) -> tuple[Any, ...]:
    return (
        e.name,
        e.description,
        dump_opt(e.schemas),
        e.archived,
        e.deprecated,
        e.feature_flag,
        e.created_at,
        e.updated_at,
        e.group_name,
        dump_opt(e.feature_flags),
        dump_opt(e.retry_schedule),
    )


ENDPOINT_COLS = (
    "id, app_id, uid, url, description, event_types, channels, disabled, rate_limit, "
    "secret, old_secrets, headers, metadata, version, created_at, updated_at, "
    "max_in_flight, fifo, payload_filter, forward_headers, send_traceparent"
)


def endpoint_from_row(r: Row, box: SecretBox) -> Endpoint:
    """Secrets come out of ``box`` in plain text; the column holds them encrypted."""
    return Endpoint(
        id=r[0],
        app_id=r[1],
        uid=r[2],
        url=r[3],
        description=r[4],
        event_types=load(r[5]),
        channels=load(r[6]),
        disabled=bool(r[7]),
        rate_limit=r[8],
        secret=box.open(r[9]),
        old_secrets=[OldSecret(key=box.open(k), expires_at=t) for k, t in load(r[10])],
        headers=load(r[11]),
        metadata=load(r[12]),
        version=r[13],
        created_at=r[14],
        updated_at=r[15],
        max_in_flight=r[16],
        fifo=bool(r[17]),
        payload_filter=r[18],
        forward_headers=load(r[19]),
        send_traceparent=bool(r[20]),
    )


def endpoint_params(e: Endpoint, box: SecretBox) -> tuple[Any, ...]:
    return (
        e.id,
        e.app_id,
        e.uid,
        e.url,
        e.description,
        dump_opt(e.event_types),
        dump_opt(e.channels),
        e.disabled,
        e.rate_limit,
        box.seal(e.secret),
        sealed_old_secrets(e.old_secrets, box),
        dump(e.headers),
        dump(e.metadata),
        e.version,
        e.created_at,
        e.updated_at,
        e.max_in_flight,
        e.fifo,
        e.payload_filter,
        dump_opt(e.forward_headers or None),
        e.send_traceparent,
    )


def sealed_old_secrets(old: Sequence[OldSecret], box: SecretBox) -> str:
    """The ``old_secrets`` column: each key encrypted, expiry times left readable."""
    return dump([[box.seal(s.key), s.expires_at] for s in old])


def resealed_endpoint_secrets(
    secret: str, old_secrets: str, box: SecretBox
) -> tuple[str, str] | None:
    """The ``secret`` and ``old_secrets`` columns encrypted with the current key, or None
    if they already are."""
    pairs = load(old_secrets)
    if not any(box.needs_reseal(v) for v in [secret, *(k for k, _ in pairs)]):
        return None
    old = [OldSecret(key=box.open(k), expires_at=t) for k, t in pairs]
    return box.seal(box.open(secret)), sealed_old_secrets(old, box)


MESSAGE_COLS = (
    "id, app_id, event_type, event_id, payload, channels, tags, created_at, headers, deliver_at,"
    " traceparent, tracestate"
)


def message_from_row(r: Row) -> Message:
    return Message(
        id=r[0],
        app_id=r[1],
        event_type=r[2],
        event_id=r[3],
        payload=None if r[4] is None else bytes(r[4]),
        channels=load(r[5]),
        tags=load(r[6]),
        created_at=r[7],
        headers=load(r[8]),
        deliver_at=r[9],
        traceparent=r[10],
        tracestate=r[11],
    )


def message_params(m: Message) -> tuple[Any, ...]:
    return (
        m.id,
        m.app_id,
        m.event_type,
        m.event_id,
        m.payload,
        dump_opt(m.channels),
        dump_opt(m.tags),
        m.created_at,
        dump_opt(m.headers),
        m.deliver_at,
        m.traceparent,
        m.tracestate,
    )


DELIVERY_COLS = (
    "id, msg_id, endpoint_id, app_id, status, attempts, next_attempt_at, trigger, "
    "created_at, updated_at"
)


def delivery_from_row(r: Row) -> Delivery:
    return Delivery(
        id=r[0],
        msg_id=r[1],
        endpoint_id=r[2],
        app_id=r[3],
        status=DeliveryStatus(r[4]),
        attempts=r[5],
        next_attempt_at=r[6],
        trigger=TriggerType(r[7]),
        created_at=r[8],
        updated_at=r[9],
    )


ATTEMPT_COLS = (
    "id, delivery_id, msg_id, endpoint_id, app_id, url, status, response_status, "
    "response_body, duration_ms, error_kind, trigger, created_at, request_headers, "
    "response_headers"
)


def attempt_from_row(r: Row) -> Attempt:
    return Attempt(
        id=r[0],
        delivery_id=r[1],
        msg_id=r[2],
        endpoint_id=r[3],
        app_id=r[4],
        url=r[5],
        status=DeliveryStatus(r[6]),
        response_status=r[7],
        response_body=r[8],
        duration_ms=r[9],
        error_kind=None if r[10] is None else ErrorKind(r[10]),
        trigger=TriggerType(r[11]),
        created_at=r[12],
        request_headers=load(r[13]),
        response_headers=load(r[14]),
    )


def attempt_params(a: Attempt) -> tuple[Any, ...]:
    return (
        a.id,
        a.delivery_id,
        a.msg_id,
        a.endpoint_id,
        a.app_id,
        a.url,
        int(a.status),
        a.response_status,
        a.response_body,
        a.duration_ms,
        None if a.error_kind is None else a.error_kind.value,
        int(a.trigger),
        a.created_at,
        dump_opt(a.request_headers),
        dump_opt(a.response_headers),
    )


def marks_for(columns: str) -> str:
    """One ``?`` per column of a column list."""
    return ",".join("?" * len(columns.split(",")))
