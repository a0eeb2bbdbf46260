"""Bodies of the attempted-message lists, expunge and precheck routes (Svix shapes)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

from pydantic import Field

from hookline.api.schemas import (
    Channel,
    EndpointOut,
    EventTypeName,
    ListOut,
    MessageOut,
    Schema,
    Uid,
)


class DeliveryStateOut(Schema):
    """The latest delivery of a (message, endpoint) pair, as Svix adds it to both lists."""

    status: int
    status_text: str
    next_attempt: datetime | None = None


class EndpointMessageOut(MessageOut, DeliveryStateOut):
    pass


class ListEndpointMessageOut(ListOut):
    data: list[EndpointMessageOut]


class MessageEndpointOut(EndpointOut, DeliveryStateOut):
    pass


class ListMessageEndpointOut(ListOut):
    data: list[MessageEndpointOut]


class MessagePrecheckIn(Schema):
    event_type: EventTypeName
    channels: Annotated[list[Channel], Field(min_length=1, max_length=10)] | None = None


class MessagePrecheckOut(Schema):
    active: bool


class BulkExpungeContentsIn(Schema):
    ids: Annotated[list[Uid], Field(max_length=1000, default_factory=list)]


class BulkExpungeStatus(enum.StrEnum):
    EXPUNGED = "expunged"
    NOT_FOUND = "not-found"


class BulkExpungeContentsOut(Schema):
    results: dict[str, BulkExpungeStatus]
