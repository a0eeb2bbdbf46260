"""POST /api/v1/app/{app}/endpoint/{ep}/send-example: an endpoint's test event.

As Svix's server does: ``svix.ping`` sends ``{"success": true}``; any other event type
sends the first example of its schema (400 ``invalid_scheme`` when it has none). The
message is stored like any other and delivered, signed and retried, to that one endpoint
only, whatever its subscriptions: a test must not reach the application's other
endpoints."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter
from pydantic import Field

from hookline import ids
from hookline.api.applications import AppRef
from hookline.api.context import Ctx, now_ms
from hookline.api.endpoints import EpRef
from hookline.api.messages import message_out
from hookline.api.schemas import EventTypeName, MessageOut, Schema
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import ApiError
from hookline.models import EventType, Message

router = APIRouter(
    prefix="/api/v1/app/{app_id}/endpoint", tags=["Endpoint"], route_class=StrictJsonRoute
)

PING_EVENT_TYPE = "svix.ping"
PING_PAYLOAD: dict[str, Any] = {"success": True}


class EventExampleIn(Schema):
    event_type: EventTypeName
    # which of the schema's ``examples`` to send (Svix's SDK sends it; default the first)
    example_index: Annotated[int, Field(ge=0, le=1000)] = 0


class NoExample(ApiError):
    status = 400
    code = "invalid_scheme"


def schema_example(event_type: EventType, index: int) -> dict[str, Any]:
    """The payload to send for ``event_type``: its version "1" schema's ``examples[index]``
    (or its ``example``), else the first version that has one."""
    schemas = event_type.schemas or {}
    versions = sorted(schemas, key=lambda v: (v != "1", v))
    for version in versions:
        schema = schemas[version]
        if not isinstance(schema, dict):
            continue
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            chosen = examples[index] if index < len(examples) else None
        else:
            chosen = schema.get("example")
        if isinstance(chosen, dict):
            return chosen
    raise NoExample("Unable to generate example message from event-type schema")


@router.post("/{endpoint_id}/send-example", status_code=202, response_model=MessageOut)
async def send_example(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EventExampleIn
) -> MessageOut:
    app = await ctx.store.get_application(app_id)
    endpoint = await ctx.store.get_endpoint(app.id, endpoint_id)
    if body.event_type == PING_EVENT_TYPE:
        payload = PING_PAYLOAD
    else:
        payload = schema_example(
            await ctx.store.get_event_type(body.event_type), body.example_index
        )
    now = now_ms()
    msg = Message(
        id=ids.new_id("msg", now),
        app_id=app.id,
        event_type=body.event_type,
        payload=orjson.dumps(payload),
        created_at=now,
    )
    outcome = await ctx.store.publish_to_endpoint(msg, endpoint.id, now)
    return message_out(outcome.message)
