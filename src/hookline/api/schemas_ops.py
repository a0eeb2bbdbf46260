"""Bodies of the recovery, background-task and operational-webhook routes (Svix shapes).

The operational endpoints' secret and header bodies are the same as a normal
endpoint's, so those routes use the models in ``schemas``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hookline.api.schemas import (
    CHANNEL_PATTERN,
    TAG_PATTERN,
    EventTypeName,
    ListOut,
    Metadata,
    Schema,
    Secret,
    ThrottleRate,
    Uid,
    Url,
)

# ----- recovery and replays --------------------------------------------------------------


class RecoverIn(Schema):
    since: datetime
    until: datetime | None = None


class ReplayIn(RecoverIn):
    pass


class StatusCodeClass(enum.IntEnum):
    """Svix's StatusCodeClass: 0 means no response at all (a connection error)."""

    NONE = 0
    C1XX = 100
    C2XX = 200
    C3XX = 300
    C4XX = 400
    C5XX = 500


class BulkReplayIn(RecoverIn):
    event_types: Annotated[list[EventTypeName], Field(max_length=1000)] | None = None
    channel: Annotated[str, StringConstraints(max_length=128, pattern=CHANNEL_PATTERN)] | None = (
        None
    )
    tag: Annotated[str, StringConstraints(max_length=128, pattern=TAG_PATTERN)] | None = None
    status: Annotated[int, Field(ge=0, le=4)] | None = None
    status_code_class: StatusCodeClass | None = None


class BackgroundTaskStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class BackgroundTaskType(enum.StrEnum):
    """Every type Svix defines, so filters an SDK sends validate; hookline runs the
    three endpoint ones."""

    ENDPOINT_REPLAY = "endpoint.replay"
    ENDPOINT_RECOVER = "endpoint.recover"
    APPLICATION_STATS = "application.stats"
    MESSAGE_BROADCAST = "message.broadcast"
    SDK_GENERATE = "sdk.generate"
    EVENT_TYPE_AGGREGATE = "event-type.aggregate"
    APPLICATION_PURGE_CONTENT = "application.purge_content"
    ENDPOINT_BULK_REPLAY = "endpoint.bulk-replay"


class TaskStartedOut(Schema):
    """RecoverOut and ReplayOut: the task just queued."""

    id: str
    status: BackgroundTaskStatus
    task: BackgroundTaskType
    updated_at: datetime


class BackgroundTaskOut(TaskStartedOut):
    data: dict[str, Any]


class ListBackgroundTaskOut(ListOut):
    data: list[BackgroundTaskOut]


# ----- operational webhook endpoints -----------------------------------------------------


class OperationalEndpointUpsertIn(Schema):
    url: Url
    description: Annotated[str, StringConstraints(max_length=8192)] = ""
    throttle_rate: ThrottleRate | None = None
    uid: Uid | None = None
    disabled: bool = False
    event_types: Annotated[list[EventTypeName], Field(min_length=1)] | None = None
    metadata: Metadata | None = None


class OperationalEndpointIn(OperationalEndpointUpsertIn):
    secret: Secret | None = None
    headers: dict[str, str] | None = None


class OperationalEndpointOut(Schema):
    id: str
    url: str
    description: str
    throttle_rate: int | None = None
    uid: str | None = None
    disabled: bool
    event_types: list[str] | None = None
    metadata: Metadata
    created_at: datetime
    updated_at: datetime


class ListOperationalEndpointOut(ListOut):
    data: list[OperationalEndpointOut]
