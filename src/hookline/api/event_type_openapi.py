"""Event types from and to an OpenAPI 3.1 document's ``webhooks``, as Svix does.

Each entry of ``webhooks`` (or ``x-webhooks``) is an event type named by its key; its
``post`` operation gives the description (else the summary), ``deprecated``, and the
JSON request body's schema, with local ``$ref``s inlined, as the schema's version "1"
(its media type's ``example`` becomes the schema's ``examples``). Svix's extensions
``x-svix-group-name`` and ``x-svix-feature-flags`` give the group and the flags. Paths
are not event types. The export writes the same shape, each type's newest schema
version, so an export imported elsewhere gives the same catalogue.
"""

from __future__ import annotations

import asyncio
from typing import Any

import yaml
from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError

from hookline import ids
from hookline.api.context import Ctx, now_ms, to_datetime
from hookline.api.errors import field_error
from hookline.api.schemas import EventTypeName, FeatureFlags, Uid
from hookline.api.schemas_catalog import (
    EventTypeFromOpenApi,
    EventTypeImportOpenApiIn,
    EventTypeImportOpenApiOut,
    EventTypeImportOpenApiOutData,
    ExportEventTypeOut,
)
from hookline.api.schemas_ops import BackgroundTaskStatus, BackgroundTaskType
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import ApiError, ValidationFailed
from hookline.models import EventType

router = APIRouter(prefix="/api/v1/event-type", tags=["Event Type"], route_class=StrictJsonRoute)

MAX_NODES = 200_000  # values in a parsed document, aliases counted at each use
MAX_DEPTH = 64
MAX_TYPES = 5_000
GROUP = "x-svix-group-name"
FLAGS = "x-svix-feature-flags"
_name = TypeAdapter(EventTypeName)
_group = TypeAdapter(Uid | None)
_flags = TypeAdapter(FeatureFlags | None)


def invalid(where: str, msg: str) -> ValidationFailed:
    return field_error(["body", where], msg)


def parse_raw(text: str) -> Any:
    """JSON or YAML (the safe loader: no tags that build objects)."""
    try:
        return yaml.load(text, Loader=yaml.CSafeLoader)  # JSON is YAML 1.2, near enough
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise invalid("specRaw", f"not valid YAML or JSON: {str(exc)[:200]}") from None


def normalised(doc: Any, where: str) -> Any:
    """A copy with string keys (YAML's ``200:`` is a number), refused past a size and
    depth, so an alias bomb or a self-referencing YAML document is never walked whole."""
    budget = [MAX_NODES]

    def walk(v: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            raise invalid(where, "the document is too large or too deeply nested")
        if isinstance(v, dict):
            return {str(k): walk(item, depth + 1) for k, item in v.items()}
        if isinstance(v, list):
            return [walk(item, depth + 1) for item in v]
        return v

    return walk(doc, 0)


class _Inliner:
    """Inlines ``#/...`` references; a reference to itself (a recursive schema) or to
    anything outside the document is refused, and so is an expansion past MAX_NODES
    values in all (references that fan out to references are a bomb too)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.budget = MAX_NODES

    def resolve(self, node: Any, seen: tuple[str, ...] = ()) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise invalid("spec", "the document's references expand too far")
        if isinstance(node, list):
            return [self.resolve(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/") or ref in seen or len(seen) >= MAX_DEPTH:
                raise invalid("spec", f"cannot inline the reference {ref!r}")
            target: Any = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, dict) or part not in target:
                    raise invalid("spec", f"the reference {ref!r} points nowhere")
                target = target[part]
            return self.resolve(target, (*seen, ref))
        return {k: self.resolve(v, seen) for k, v in node.items()}


def event_types_of(doc: Any) -> list[EventType]:
    """The event types a document declares; any malformed part is a 422 naming it."""
    if not isinstance(doc, dict) or not isinstance(doc.get("openapi"), str):
        raise invalid("spec", "not an OpenAPI document (no openapi version)")
    hooks = doc.get("webhooks", doc.get("x-webhooks", {}))
    if not isinstance(hooks, dict):
        raise invalid("spec", "webhooks must be an object")
    if len(hooks) > MAX_TYPES:
        raise invalid("spec", f"more than {MAX_TYPES} webhooks")
    found = []
    inliner = _Inliner(doc)
    for name, item in hooks.items():
        try:
            _name.validate_python(name)
        except ValidationError:
            raise invalid("spec", f"{name!r} is not a valid event type name") from None
        op = inliner.resolve(item).get("post") if isinstance(item, dict) else None
        if not isinstance(op, dict):
            raise invalid("spec", f"webhook {name!r} has no post operation")
        found.append(_event_type(name, op))
    return found


def _event_type(name: str, op: dict[str, Any]) -> EventType:
    description = op.get("description") or op.get("summary") or ""
    if not isinstance(description, str):
        raise invalid("spec", f"webhook {name!r}: description must be a string")
    try:
        group = _group.validate_python(op.get(GROUP))
        flags = _flags.validate_python(op.get(FLAGS))
    except ValidationError:
        raise invalid("spec", f"webhook {name!r}: bad {GROUP} or {FLAGS}") from None
    media = (((op.get("requestBody") or {}).get("content") or {}).get("application/json")) or {}
    schema = media.get("schema") if isinstance(media, dict) else None
    if schema is not None and not isinstance(schema, dict):
        raise invalid("spec", f"webhook {name!r}: the schema must be an object")
    if schema is not None and "example" in media and "examples" not in schema:
        schema = {**schema, "examples": [media["example"]]}
    return EventType(
        name=name,
        description=description,
        schemas=None if schema is None else {"1": schema},
        deprecated=bool(op.get("deprecated", False)),
        group_name=group,
        feature_flags=flags,
    )


def openapi_of(types: list[EventType]) -> dict[str, Any]:
    hooks: dict[str, Any] = {}
    for et in types:
        op: dict[str, Any] = {"description": et.description, "deprecated": et.deprecated}
        if et.group_name is not None:
            op[GROUP] = et.group_name
        if et.feature_flags is not None:
            op[FLAGS] = et.feature_flags
        if et.schemas:
            newest = max(et.schemas, key=lambda v: (len(v), v))  # "10" after "9"
            op["requestBody"] = {"content": {"application/json": {"schema": et.schemas[newest]}}}
        op["responses"] = {"2XX": {"description": "Any 2XX status acknowledges the event"}}
        hooks[et.name] = {"post": op}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Webhooks", "version": "1.0.0"},
        "webhooks": hooks,
    }


@router.post("/import/openapi", response_model=EventTypeImportOpenApiOut)
async def import_openapi(ctx: Ctx, body: EventTypeImportOpenApiIn) -> EventTypeImportOpenApiOut:
    """Creates and updates (unarchiving) the document's event types in one write."""
    if (body.spec is None) == (body.spec_raw is None):
        raise ApiError("send exactly one of spec and specRaw")
    # parsing and inlining a document of up to 4 MiB is CPU work: off the event loop
    if body.spec_raw is not None:
        raw = body.spec_raw
        doc = await asyncio.to_thread(lambda: normalised(parse_raw(raw), "specRaw"))
    else:
        doc = normalised(body.spec, "spec")
    found = await asyncio.to_thread(event_types_of, doc)
    now = now_ms()
    for et in found:
        et.created_at = et.updated_at = now
    names = await ctx.store.import_event_types(found, body.replace_all, body.dry_run, now)
    if not body.dry_run:
        return EventTypeImportOpenApiOut(data=EventTypeImportOpenApiOutData(modified=names))
    wanted = set(names)
    return EventTypeImportOpenApiOut(
        data=EventTypeImportOpenApiOutData(
            modified=[],
            to_modify=[
                EventTypeFromOpenApi(
                    name=et.name,
                    description=et.description,
                    schemas=et.schemas,
                    deprecated=et.deprecated,
                    group_name=et.group_name,
                    feature_flags=et.feature_flags,
                )
                for et in found
                if et.name in wanted
            ],
        )
    )


@router.post("/export/openapi", status_code=202, response_model=ExportEventTypeOut)
async def export_openapi(ctx: Ctx) -> ExportEventTypeOut:
    """The live catalogue as an OpenAPI document, in ``data.spec``."""
    doc = openapi_of(await ctx.store.all_event_types(include_archived=False))
    return ExportEventTypeOut(
        id=ids.new_id("qtask"),
        status=BackgroundTaskStatus.FINISHED,
        task=BackgroundTaskType.SDK_GENERATE,
        updated_at=to_datetime(now_ms()),
        data={"spec": doc},
    )
