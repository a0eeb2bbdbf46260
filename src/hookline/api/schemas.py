"""Request and response bodies, shaped like Svix's v1 API (camelCase on the wire).

Unknown fields are ignored, as Svix ignores them, so newer SDKs keep working; the
older names ``filterTypes`` and ``rateLimit`` are accepted as aliases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from hookline.filters import MAX_FILTER_LENGTH

ID_PATTERN = r"^[a-zA-Z0-9\-_.]+$"
CHANNEL_PATTERN = r"^[a-zA-Z0-9\-_.:+]+$"
SECRET_PATTERN = r"^(whsec_|whsk_|whpk_)?[a-zA-Z0-9+/=]{32,100}$"

Uid = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=ID_PATTERN)]
Channel = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=CHANNEL_PATTERN)]
Secret = Annotated[str, StringConstraints(pattern=SECRET_PATTERN)]
TAG_PATTERN = r"^[a-zA-Z0-9\-_./\\#]+$"
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=TAG_PATTERN)]
Metadata = dict[str, str]
ThrottleRate = Annotated[int, Field(ge=1, le=65535)]


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ListOut(Schema):
    iterator: str | None
    prev_iterator: str | None = None
    done: bool


# ----- applications -------------------------------------------------------------------


class ApplicationIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    uid: Uid | None = None
    throttle_rate: ThrottleRate | None = Field(
        default=None, validation_alias=AliasChoices("throttleRate", "rateLimit", "throttle_rate")
    )
    metadata: Metadata | None = None


class ApplicationPatch(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = None
    uid: Uid | None = None
    throttle_rate: Annotated[int, Field(ge=0, le=65535)] | None = Field(
        default=None, validation_alias=AliasChoices("throttleRate", "rateLimit", "throttle_rate")
    )
    metadata: Metadata | None = None


class ApplicationOut(Schema):
    id: str
    uid: str | None = None
    name: str
    throttle_rate: int | None = None
    rate_limit: int | None = None
    metadata: Metadata
    created_at: datetime
    updated_at: datetime


class ListApplicationOut(ListOut):
    data: list[ApplicationOut]


# ----- event types ----------------------------------------------------------------------


# Svix's featureFlags: one to 64 distinct flags (``set`` would lose their order)
FeatureFlags = Annotated[list[Uid], Field(min_length=1, max_length=64)]


def _distinct(flags: list[str] | None) -> list[str] | None:
    if flags is not None and len(set(flags)) != len(flags):
        raise ValueError("featureFlags must not repeat a flag")
    return flags


class EventTypeUpsertIn(Schema):
    description: Annotated[str, StringConstraints(max_length=8192)] = ""
    archived: bool = False
    deprecated: bool = False
    schemas: dict[str, Any] | None = None
    feature_flag: Uid | None = None  # deprecated by Svix for featureFlags; still kept
    feature_flags: FeatureFlags | None = None
    group_name: Uid | None = None

    _flags = field_validator("feature_flags")(_distinct)


class EventTypeIn(EventTypeUpsertIn):
    name: EventTypeName


class EventTypePatch(Schema):
    description: Annotated[str, StringConstraints(max_length=8192)] | None = None
    archived: bool | None = None
    deprecated: bool | None = None
    schemas: dict[str, Any] | None = None
    feature_flag: Uid | None = None
    feature_flags: FeatureFlags | None = None
    group_name: Uid | None = None

    _flags = field_validator("feature_flags")(_distinct)


class EventTypeOut(Schema):
    name: str
    description: str
    archived: bool
    deprecated: bool
    schemas: dict[str, Any] | None = None
    feature_flag: str | None = None
    feature_flags: list[str] | None = None
    group_name: str | None = None
    created_at: datetime
    updated_at: datetime


class ListEventTypeOut(ListOut):
    data: list[EventTypeOut]


# ----- endpoints ------------------------------------------------------------------------

_EVENT_TYPES_ALIAS = AliasChoices("eventTypes", "filterTypes", "event_types")
_THROTTLE_ALIAS = AliasChoices("throttleRate", "rateLimit", "throttle_rate")
Url = Annotated[str, StringConstraints(min_length=1, max_length=65536)]
MaxInFlight = Annotated[int, Field(ge=1, le=1000)]
PayloadFilter = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FILTER_LENGTH)]
MAX_FORWARD_HEADERS = 50
HeaderName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
]
ForwardHeaders = Annotated[list[HeaderName], Field(max_length=MAX_FORWARD_HEADERS)]


class EndpointUpsertIn(Schema):
    url: Url
    description: Annotated[str, StringConstraints(max_length=8192)] = ""
    uid: Uid | None = None
    disabled: bool = False
    event_types: Annotated[list[EventTypeName], Field(min_length=1)] | None = Field(
        default=None, validation_alias=_EVENT_TYPES_ALIAS
    )
    channels: Annotated[list[Channel], Field(min_length=1, max_length=10)] | None = None
    throttle_rate: ThrottleRate | None = Field(default=None, validation_alias=_THROTTLE_ALIAS)
    metadata: Metadata | None = None
    # hookline extensions
    max_in_flight: MaxInFlight | None = None
    fifo: bool = False
    filter: PayloadFilter | None = None
    forward_headers: ForwardHeaders | None = None
    send_traceparent: bool = False


class EndpointIn(EndpointUpsertIn):
    secret: Secret | None = None
    headers: dict[str, str] | None = None


class EndpointPatch(Schema):
    url: Url | None = None
    description: Annotated[str, StringConstraints(max_length=8192)] | None = None
    uid: Uid | None = None
    disabled: bool | None = None
    event_types: list[EventTypeName] | None = Field(
        default=None, validation_alias=_EVENT_TYPES_ALIAS
    )
    channels: Annotated[list[Channel], Field(max_length=10)] | None = None
    throttle_rate: Annotated[int, Field(ge=0, le=65535)] | None = Field(
        default=None, validation_alias=_THROTTLE_ALIAS
    )
    metadata: Metadata | None = None
    max_in_flight: MaxInFlight | None = None
    fifo: bool | None = None
    filter: PayloadFilter | None = None
    forward_headers: ForwardHeaders | None = None
    send_traceparent: bool | None = None


class EndpointOut(Schema):
    id: str
    uid: str | None = None
    url: str
    description: str
    disabled: bool
    event_types: list[str] | None = None
    filter_types: list[str] | None = None
    channels: list[str] | None = None
    throttle_rate: int | None = None
    rate_limit: int | None = None
    metadata: Metadata
    version: int = 1
    max_in_flight: int | None = None
    fifo: bool = False
    filter: str | None = None
    forward_headers: list[str] | None = None
    send_traceparent: bool = False
    created_at: datetime
    updated_at: datetime


class ListEndpointOut(ListOut):
    data: list[EndpointOut]


class EndpointSecretOut(Schema):
    key: str


class EndpointSecretRotateIn(Schema):
    key: Secret | None = None
    grace_period_seconds: Annotated[int, Field(ge=0, le=604800)] | None = None


class EndpointHeadersIn(Schema):
    headers: dict[str, str]


class EndpointHeadersPatchIn(Schema):
    headers: dict[str, str | None] = Field(default_factory=dict)
    delete_headers: list[str] = Field(default_factory=list)


class EndpointHeadersOut(Schema):
    headers: dict[str, str]
    sensitive: list[str]


# ----- messages and attempts -------------------------------------------------------------


class MessageIn(Schema):
    event_type: EventTypeName
    payload: dict[str, Any]
    event_id: Uid | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=10)] | None = None
    tags: Annotated[list[Tag], Field(max_length=5)] | None = None
    application: ApplicationIn | None = None
    deliver_at: datetime | None = None


class MessageOut(Schema):
    id: str
    event_type: str
    event_id: str | None = None
    payload: dict[str, Any]
    channels: list[str] | None = None
    tags: list[str] | None = None
    timestamp: datetime
    deliver_at: datetime | None = None


class ListMessageOut(ListOut):
    data: list[MessageOut]


class MessageAttemptOut(Schema):
    id: str
    msg_id: str
    endpoint_id: str
    url: str
    response: str
    response_status_code: int
    response_duration_ms: int
    status: int
    status_text: str
    trigger_type: int
    error_kind: str | None = None
    timestamp: datetime
    msg: MessageOut | None = None


class ListMessageAttemptOut(ListOut):
    data: list[MessageAttemptOut]


class EmptyOut(Schema):
    pass


class BreakerOut(Schema):
    state: str
    failure_streak: int
    open_until: datetime | None = None


class SuccessRateOut(Schema):
    attempts: int
    successes: int
    rate: float | None


class EndpointStatsOut(Schema):
    """Svix's EndpointStats counts, plus the endpoint's health (hookline extension)."""

    success: int
    pending: int
    sending: int
    fail: int
    canceled: int = 0
    breaker: BreakerOut
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_hour: SuccessRateOut
    last_day: SuccessRateOut
