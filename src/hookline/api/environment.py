"""/api/v1/environment: the setup as one JSON document, to copy between servers and keep
in version control. Svix's ``EnvironmentOut``/``EnvironmentIn`` (event types, settings,
connectors) plus ``applications`` with their ``endpoints``.

Endpoint secrets and custom headers (which often carry credentials) are left out unless
the export asks for them (``include_secrets=true``); an import then keeps an existing
endpoint's secret and headers, and gives a new endpoint a new secret. Import upserts by
id, then uid (event types by name), so running it twice changes nothing; ids are kept,
so a copy on an empty server answers to the same ids. The whole document is checked
before anything is written: a bad one is a 422 and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Response
from pydantic import StringConstraints

from hookline.api.applications import new_application
from hookline.api.context import Ctx, now_ms, to_datetime
from hookline.api.endpoints import checked_secret, endpoint_out, new_endpoint
from hookline.api.event_types import event_type_out, upsert_event_type
from hookline.api.schemas import (
    ApplicationIn,
    EndpointIn,
    EventTypeIn,
    EventTypeOut,
    EventTypeUpsertIn,
    Schema,
)
from hookline.api.strict_json import StrictJsonRoute
from hookline.errors import NotFound, ValidationFailed
from hookline.models import Application, Endpoint, Page
from hookline.store.base import PageRequest, Store

router = APIRouter(prefix="/api/v1/environment", tags=["Environment"], route_class=StrictJsonRoute)

T = TypeVar("T")
VERSION = 1
PAGE = 250


# ids as hookline makes them: kept by an import, so they must look like ours
AppId = Annotated[str, StringConstraints(max_length=40, pattern=r"^app_[A-Za-z0-9]+$")]
EndpointId = Annotated[str, StringConstraints(max_length=40, pattern=r"^ep_[A-Za-z0-9]+$")]


class EndpointDoc(EndpointIn):
    id: EndpointId | None = None


class ApplicationDoc(ApplicationIn):
    id: AppId | None = None
    endpoints: list[EndpointDoc] | None = None


class EnvironmentIn(Schema):
    event_types: list[EventTypeIn] | None = None
    settings: dict[str, Any] | None = None  # accepted; hookline has no environment settings
    connectors: list[dict[str, Any]] | None = None
    applications: list[ApplicationDoc] | None = None


class EnvironmentOut(Schema):
    version: int = VERSION
    created_at: datetime
    event_types: list[EventTypeOut]
    settings: dict[str, Any]
    connectors: list[dict[str, Any]]
    applications: list[dict[str, Any]]


class EnvironmentSettingsOut(Schema):
    """Svix's settings of an environment: what its portal shows and which features it
    offers. hookline's come from the server's settings; the features hookline lacks are
    reported off, so a client that reads them hides those controls."""

    display_name: str
    custom_color: str
    logo_url: str | None
    enable_channels: bool = True
    enable_message_tags: bool = True
    enable_integration_management: bool = True
    enable_message_stream: bool = False
    enable_transformations: bool = False
    enable_endpoint_oauth_config: bool = False
    enable_endpoint_mtls_config: bool = False
    show_use_svix_play: bool = False
    show_svix_brand_footer: bool = False
    wipe_successful_payload: bool = False


@router.get("/settings", response_model=EnvironmentSettingsOut)
async def environment_settings(ctx: Ctx) -> EnvironmentSettingsOut:
    return EnvironmentSettingsOut(
        display_name=ctx.portal_name, custom_color=ctx.portal_color, logo_url=ctx.portal_logo_url
    )


@router.post("/export", response_model=EnvironmentOut, operation_id="v1.environment.export")
async def export_environment(
    ctx: Ctx, include_secrets: Annotated[bool, Query()] = False
) -> EnvironmentOut:
    store = ctx.store
    catalogue = await _all(lambda p: store.list_event_types(p, True))
    event_types = [event_type_out(et) for et in catalogue]
    apps = []
    for app in await _all(lambda p: store.list_applications(p)):
        endpoints = await _all(partial(_endpoints, store, app.id))
        apps.append(_app_doc(app, [_endpoint_doc(ep, include_secrets) for ep in endpoints]))
    return EnvironmentOut(
        created_at=to_datetime(now_ms()),
        event_types=event_types,
        settings={},
        connectors=[],
        applications=apps,
    )


def _app_doc(app: Application, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    doc = ApplicationDoc(
        id=app.id,
        uid=app.uid,
        name=app.name,
        throttle_rate=app.rate_limit,
        metadata=app.metadata,
    )
    out = doc.model_dump(by_alias=True, exclude={"endpoints"})
    return {**out, "endpoints": endpoints}


def _endpoint_doc(ep: Endpoint, include_secrets: bool) -> dict[str, Any]:
    shown = endpoint_out(ep).model_dump(by_alias=True)
    keep = set(EndpointDoc.model_fields) - {"secret", "headers"}
    doc = {k: v for k, v in shown.items() if _field(k) in keep}
    if include_secrets:
        doc.update(url=ep.url, secret=ep.secret, headers=dict(ep.headers))
    return doc


def _field(alias: str) -> str:
    for name, info in EndpointDoc.model_fields.items():
        if alias in (name, info.alias):
            return name
    return alias


async def _endpoints(store: Store, app_id: str, page: PageRequest) -> Page[Endpoint]:
    return await store.list_endpoints(app_id, page)


async def _all(fetch: Callable[[PageRequest], Awaitable[Page[T]]]) -> list[T]:
    out: list[T] = []
    page = PageRequest(limit=PAGE)
    while True:
        got = await fetch(page)
        out.extend(got.data)
        if got.done or not got.data:
            return out
        page = PageRequest(limit=PAGE, iterator=got.iterator)


@dataclass(slots=True)
class _AppPlan:
    doc: ApplicationDoc
    existing: Application | None
    endpoints: list[tuple[EndpointDoc, Endpoint | None, Endpoint]] = field(default_factory=list)


@router.post("/import", status_code=204, operation_id="v1.environment.import")
async def import_environment(ctx: Ctx, body: EnvironmentIn) -> Response:
    """Adds and updates, never deletes. Checks everything, then writes."""
    if body.connectors:
        raise _invalid(["body", "connectors"], "this server has no connectors")
    _unique([et.name for et in body.event_types or []], ["body", "eventTypes"])
    plans = await _plan(ctx, body.applications or [])
    for et in body.event_types or []:
        given = et.model_dump(exclude={"name"}, exclude_unset=True)
        await upsert_event_type(ctx, et.name, EventTypeUpsertIn(**given), Response())
    for plan in plans:
        app = await _save_app(ctx.store, plan)
        for doc, existing, built in plan.endpoints:
            await _save_endpoint(ctx.store, app, doc, existing, built)
    return Response(status_code=204)


async def _plan(ctx: Ctx, docs: list[ApplicationDoc]) -> list[_AppPlan]:
    """Reads only: each application and endpoint found (by id, then uid) or built, every
    field checked as the endpoints API checks it."""
    _unique([d.id for d in docs if d.id], ["body", "applications", "id"])
    _unique([d.uid for d in docs if d.uid], ["body", "applications", "uid"])
    plans = []
    for i, doc in enumerate(docs):
        existing = await _find_app(ctx.store, doc.id, doc.uid)
        plan = _AppPlan(doc, existing)
        eps = doc.endpoints or []
        loc = ["body", "applications", str(i), "endpoints"]
        _unique([e.id for e in eps if e.id], [*loc, "id"])
        _unique([e.uid for e in eps if e.uid], [*loc, "uid"])
        for j, ep_doc in enumerate(eps):
            found = None
            if existing is not None:
                found = await _find_endpoint(ctx.store, existing.id, ep_doc.id, ep_doc.uid)
            try:
                secret = (
                    checked_secret(ep_doc.secret, "secret") if ep_doc.secret else ctx.new_secret()
                )
                built = new_endpoint(
                    existing.id if existing else "",
                    ep_doc,
                    secret,
                    ep_doc.headers or {},
                    ctx.address_policy,
                    ctx.action_names,
                )
            except ValidationFailed as exc:
                raise _relocated(exc, [*loc, str(j)]) from None
            plan.endpoints.append((ep_doc, found, built))
        plans.append(plan)
    return plans


async def _find_app(store: Store, *refs: str | None) -> Application | None:
    for ref in refs:
        if ref:
            try:
                return await store.get_application(ref)
            except NotFound:
                pass
    return None


async def _find_endpoint(store: Store, app_id: str, *refs: str | None) -> Endpoint | None:
    for ref in refs:
        if ref:
            try:
                return await store.get_endpoint(app_id, ref)
            except NotFound:
                pass
    return None


async def _save_app(store: Store, plan: _AppPlan) -> Application:
    doc = plan.doc
    if plan.existing is None:
        app = new_application(doc)
        app.id = doc.id or app.id
        return await store.create_application(app)
    app = plan.existing
    before = _app_state(app)
    app.name, app.rate_limit, app.metadata = doc.name, doc.throttle_rate, doc.metadata or {}
    app.uid = doc.uid if doc.uid is not None else app.uid
    if _app_state(app) == before:
        return app  # unchanged: an import run twice writes nothing the second time
    app.updated_at = now_ms()
    return await store.update_application(app)


async def _save_endpoint(
    store: Store, app: Application, doc: EndpointDoc, existing: Endpoint | None, built: Endpoint
) -> None:
    if existing is None:
        built.app_id = app.id
        built.id = doc.id or built.id
        await store.create_endpoint(built)
        return
    ep = existing
    before = _endpoint_state(ep)
    sent = doc.model_fields_set
    ep.url, ep.description, ep.disabled = built.url, built.description, built.disabled
    ep.uid = built.uid if built.uid is not None else ep.uid
    ep.event_types, ep.channels = built.event_types, built.channels
    ep.rate_limit, ep.metadata = built.rate_limit, built.metadata
    ep.max_in_flight, ep.fifo = built.max_in_flight, built.fifo
    ep.payload_filter, ep.forward_headers = built.payload_filter, built.forward_headers
    ep.send_traceparent = built.send_traceparent
    if "secret" in sent and doc.secret:
        ep.secret = built.secret
    if "headers" in sent and doc.headers is not None:
        ep.headers = built.headers
    if _endpoint_state(ep) == before:
        return
    ep.updated_at = now_ms()
    await store.update_endpoint(ep)


def _app_state(app: Application) -> tuple[Any, ...]:
    return (app.uid, app.name, app.rate_limit, dict(app.metadata))


def _endpoint_state(ep: Endpoint) -> tuple[Any, ...]:
    """What an import sets: equal before and after means there is nothing to write."""
    return (
        ep.url,
        ep.description,
        ep.disabled,
        ep.uid,
        ep.event_types,
        ep.channels,
        ep.rate_limit,
        dict(ep.metadata),
        ep.max_in_flight,
        ep.fifo,
        ep.payload_filter,
        ep.forward_headers,
        ep.send_traceparent,
        ep.secret,
        dict(ep.headers),
    )


def _unique(values: list[str], loc: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise _invalid(loc, f"{value!r} appears twice")
        seen.add(value)


def _invalid(loc: list[str], msg: str) -> ValidationFailed:
    return ValidationFailed([{"loc": loc, "msg": msg, "type": "value_error"}])


def _relocated(exc: ValidationFailed, prefix: list[str]) -> ValidationFailed:
    """An endpoint's error, located within the document."""
    errors = exc.detail if isinstance(exc.detail, list) else []
    moved = [
        {**err, "loc": [*prefix, *[p for p in err.get("loc", []) if p != "body"]]} for err in errors
    ]
    return ValidationFailed(moved or exc.detail)
