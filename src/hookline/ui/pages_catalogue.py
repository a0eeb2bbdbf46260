"""The event catalogue: the event types a customer can subscribe to, with their JSON
Schemas and the examples those schemas carry. The portal shows the types in use (not
archived); the operator sees archived ones too, marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hookline.models import EventType
from hookline.store.base import PageRequest
from hookline.ui.pages_apps import page_or_first
from hookline.ui.render import render
from hookline.ui.session import config_of, customer, operator
from hookline.ui.viewer import Viewer

router = APIRouter()
portal_router = APIRouter()
PAGE_SIZE = 50
Iterator = Annotated[str | None, Query(max_length=256)]


@dataclass(frozen=True, slots=True)
class Schema:
    version: str
    text: str  # the schema, indented
    examples: list[str]  # each example, indented


def schemas_of(event_type: EventType) -> list[Schema]:
    """Svix keeps schemas by version ("1", "2", ...); examples live in each schema's
    ``examples`` (JSON Schema's keyword)."""
    out = []
    for version, schema in sorted((event_type.schemas or {}).items()):
        examples = schema.get("examples") if isinstance(schema, dict) else None
        out.append(
            Schema(
                version=str(version),
                text=_indent(schema),
                examples=[_indent(e) for e in examples] if isinstance(examples, list) else [],
            )
        )
    return out


def _indent(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


async def _catalogue(request: Request, viewer: Viewer, iterator: str | None) -> Response:
    store = config_of(request).store
    page = await page_or_first(
        lambda p: store.list_event_types(p, include_archived=viewer.is_admin),
        PageRequest(limit=PAGE_SIZE, iterator=iterator),
    )
    return render(
        request,
        "event_types.html",
        viewer,
        title="Event types",
        nav="event-types",
        page=page,
        iterator=iterator,
        schemas_of=schemas_of,
    )


@router.get("/event-types")
async def operator_catalogue(
    request: Request, viewer: Annotated[Viewer, Depends(operator)], iterator: Iterator = None
) -> Response:
    return await _catalogue(request, viewer, iterator)


@portal_router.get("/event-types")
async def portal_catalogue(
    request: Request, viewer: Annotated[Viewer, Depends(customer)], iterator: Iterator = None
) -> Response:
    return await _catalogue(request, viewer, iterator)
