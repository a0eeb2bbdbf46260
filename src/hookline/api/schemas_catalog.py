"""Bodies of the catalogue's extras (retry schedules, OpenAPI import and export) and of
the statistics routes, shaped like Svix's (``svix-full-openapi.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from hookline.api.schemas import ID_PATTERN, Schema
from hookline.api.schemas_ops import BackgroundTaskStatus, BackgroundTaskType

MAX_RETRIES = 50
MAX_DELAY_S = 30 * 24 * 3600  # a retry further out than a month is a typo


class Duration(Schema):
    """Svix's ``Duration`` (a Rust ``std::time::Duration``): whole seconds plus nanos."""

    secs: Annotated[int, Field(ge=0, le=MAX_DELAY_S)]
    nanos: Annotated[int, Field(ge=0, lt=1_000_000_000)] = 0


Delay = Duration | Annotated[float, Field(ge=0, le=MAX_DELAY_S)]


class RetryScheduleInOut(Schema):
    """Answers with ``Duration`` objects, as Svix's spec says; takes those or plain
    seconds (what people write by hand)."""

    retry_schedule: Annotated[list[Delay], Field(max_length=MAX_RETRIES)] | None = None

    def seconds(self) -> list[float] | None:
        if self.retry_schedule is None:
            return None
        return [
            d.secs + d.nanos / 1e9 if isinstance(d, Duration) else float(d)
            for d in self.retry_schedule
        ]

    @classmethod
    def of(cls, schedule: list[float] | None) -> RetryScheduleInOut:
        if schedule is None:
            return cls(retry_schedule=None)
        return cls(
            retry_schedule=[
                Duration(secs=int(s), nanos=round((s - int(s)) * 1e9) % 1_000_000_000)
                for s in schedule
            ]
        )


# ----- OpenAPI import and export -----------------------------------------------------------

MAX_SPEC_RAW = 4 * 1024 * 1024


class EventTypeImportOpenApiIn(Schema):
    spec: dict[str, Any] | None = None
    spec_raw: Annotated[str, Field(max_length=MAX_SPEC_RAW)] | None = None
    dry_run: bool = False
    replace_all: bool = False


class EventTypeFromOpenApi(Schema):
    name: Annotated[str, Field(pattern=ID_PATTERN, max_length=256)]
    description: str
    schemas: dict[str, Any] | None = None
    deprecated: bool
    group_name: str | None = None
    feature_flags: list[str] | None = None


class EventTypeImportOpenApiOutData(Schema):
    modified: list[str]
    # Svix spells this one in snake case
    to_modify: list[EventTypeFromOpenApi] | None = Field(default=None, alias="to_modify")


class EventTypeImportOpenApiOut(Schema):
    data: EventTypeImportOpenApiOutData


class ExportEventTypeOut(Schema):
    """Svix answers with a background task whose data links to the result; the export
    is cheap here, so the task is finished when answered and ``data.spec`` holds the
    OpenAPI document (which ``import/openapi`` takes back as ``spec``)."""

    id: str
    status: BackgroundTaskStatus
    task: BackgroundTaskType
    updated_at: datetime
    data: dict[str, Any]


# ----- statistics ---------------------------------------------------------------------------


class EndpointAttemptStatsOut(Schema):
    success: int
    fail: int
    canceled: int = 0


class AppAttemptEventTypeStats(Schema):
    success: int
    failure: int
    canceled: int = 0


class AppAttemptStatsOut(Schema):
    """Svix spells these fields in snake case."""

    by_event_type: dict[str, AppAttemptEventTypeStats] = Field(alias="by_event_type")
    total_success: int = Field(alias="total_success")
    total_failure: int = Field(alias="total_failure")
    total_canceled: int = Field(default=0, alias="total_canceled")
    since: datetime
    until: datetime


class AttemptStatisticsData(Schema):
    success_count: list[int] | None = None
    failure_count: list[int] | None = None
    canceled_count: list[int] | None = None


class AttemptStatisticsResponse(Schema):
    start_date: datetime
    end_date: datetime
    period: str
    data: AttemptStatisticsData


class ActiveAppCount(Schema):
    count: int


class EndpointCountOut(Schema):
    active: int
    disabled: int
