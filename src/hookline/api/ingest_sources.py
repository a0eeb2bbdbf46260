"""/ingest/api/v1/source: inbound sources, as Svix's Ingest API serves them.

Each source owns an application, created and deleted with it: what a source receives
becomes a message of that application, and its endpoints are that application's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from hookline import ids
from hookline.api.context import Ctx, Paging, list_out, now_ms, to_datetime
from hookline.api.errors import field_error
from hookline.api.ingest_schemas import (
    SOURCE_UID_PATTERN,
    IngestSourceIn,
    IngestSourceOut,
    IngestSourcePatch,
    ListIngestSourceOut,
    PortalAccessIn,
    RotateTokenOut,
)
from hookline.api.schemas import ID_PATTERN
from hookline.api.strict_json import StrictJsonRoute
from hookline.api.updates import reapply
from hookline.errors import ApiError, NotFound
from hookline.models import Application
from hookline.receive.config import (
    EXTENSION_PROVIDERS,
    PROVIDERS,
    SVIX_PROVIDERS,
    ConfigError,
    parse_config,
    public_view,
    stored_config,
)
from hookline.sources import INTAKE_PREFIX, Source

PREFIX = "/ingest/api/v1/source"
router = APIRouter(prefix=PREFIX, tags=["Ingest Source"], route_class=StrictJsonRoute)
SourceRef = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]
GENERIC = "generic-webhook"
TYPES = (GENERIC, *PROVIDERS)
_GENERIC_PROVIDERS = (*EXTENSION_PROVIDERS, "none")
TOKEN_BYTES = 32  # 256 random bits in the ingest URL


class NotSupported(ApiError):
    """A Svix operation hookline does not serve. 404, not 501: the resource does not
    exist here, and the Svix SDK retries every 5xx, which cannot help."""

    status = 404
    code = "not_supported"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def resolve(type_: str, config: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The provider and the config to store for a requested ``type`` and ``config``; a
    422 naming the field otherwise. ``generic-webhook`` takes ``config.provider`` (an
    extension provider, ``none`` if absent); any other type is the provider itself."""
    raw = dict(config or {})
    if type_ == GENERIC:
        provider = raw.pop("provider", "none")
        if provider not in _GENERIC_PROVIDERS:
            choices = ", ".join(_GENERIC_PROVIDERS)
            raise field_error(["body", "config", "provider"], f"must be one of {choices}")
    elif type_ in PROVIDERS:
        provider = type_
        if raw.pop("provider", provider) != provider:
            raise field_error(["body", "config", "provider"], f"does not match type {type_!r}")
    else:
        raise field_error(["body", "type"], f"unknown source type; one of {', '.join(TYPES)}")
    try:
        parsed = parse_config(provider, raw)
    except ConfigError as exc:
        raise field_error(["body", "config"], str(exc)) from None
    return provider, stored_config(parsed)


def shown_type(provider: str) -> str:
    """Svix's own types as themselves; extensions as ``generic-webhook``, so the Svix
    SDK, which checks ``type`` against its list, parses every source."""
    return provider if provider in SVIX_PROVIDERS else GENERIC


def ingest_url(ctx: Ctx, token: str) -> str:
    return f"{ctx.public_url.rstrip('/')}{INTAKE_PREFIX}{token}"


def source_out(ctx: Ctx, source: Source) -> IngestSourceOut:
    return IngestSourceOut(
        id=source.id,
        uid=source.uid,
        name=source.name,
        ingest_url=ingest_url(ctx, source.token),
        type=shown_type(source.provider),
        config=public_view(parse_config(source.provider, source.config)),
        metadata=source.metadata,
        dedup_window_seconds=source.dedup_window_ms // 1000,
        app_id=source.app_id,
        created_at=to_datetime(source.created_at),
        updated_at=to_datetime(source.updated_at),
    )


async def create(ctx: Ctx, body: IngestSourceIn, uid: str | None) -> Source:
    provider, config = resolve(body.type, body.config)
    now = now_ms()
    app = Application(id=ids.new_id("app", now), name=body.name, created_at=now, updated_at=now)
    source = Source(
        id=ids.new_id("src", now),
        name=body.name,
        provider=provider,
        config=config,
        token=new_token(),
        app_id=app.id,
        uid=uid,
        dedup_window_ms=body.dedup_window_seconds * 1000,
        metadata=body.metadata or {},
        created_at=now,
        updated_at=now,
    )
    return await ctx.store.create_source(source, app)


async def save(ctx: Ctx, first: Source, change: Callable[[Source], None]) -> Source:
    """Apply ``change`` and save, re-reading and re-applying after a concurrent update."""

    async def read() -> Source:
        return await ctx.store.get_source(first.id)

    return await reapply(first, read, change, ctx.store.update_source)


@router.get("", response_model=ListIngestSourceOut)
async def list_sources(ctx: Ctx, page: Paging) -> ListIngestSourceOut:
    result = await ctx.store.list_sources(page)
    return list_out(ListIngestSourceOut, result, lambda s: source_out(ctx, s))


@router.post("", status_code=201, response_model=IngestSourceOut)
async def create_source(ctx: Ctx, body: IngestSourceIn) -> IngestSourceOut:
    return source_out(ctx, await create(ctx, body, body.uid))


@router.get("/{source_id}", response_model=IngestSourceOut)
async def get_source(ctx: Ctx, source_id: SourceRef) -> IngestSourceOut:
    return source_out(ctx, await ctx.store.get_source(source_id))


@router.put("/{source_id}", response_model=IngestSourceOut)
async def upsert_source(
    ctx: Ctx, source_id: SourceRef, body: IngestSourceIn, response: Response
) -> IngestSourceOut:
    """Replace the source, or create it (with the path as its uid, unless it is an id)."""
    provider, config = resolve(body.type, body.config)
    try:
        first = await ctx.store.get_source(source_id)
    except NotFound:
        uid = body.uid
        if uid is None and not source_id.startswith("src_"):
            if not re.match(SOURCE_UID_PATTERN, source_id) or len(source_id) > 60:
                raise
            uid = source_id
        response.status_code = 201
        return source_out(ctx, await create(ctx, body, uid))

    def change(source: Source) -> None:
        source.name, source.metadata = body.name, body.metadata or {}
        source.uid = body.uid if body.uid is not None else source.uid
        source.provider, source.config = provider, config
        source.dedup_window_ms = body.dedup_window_seconds * 1000

    return source_out(ctx, await save(ctx, first, change))


@router.patch("/{source_id}", response_model=IngestSourceOut)
async def patch_source(ctx: Ctx, source_id: SourceRef, body: IngestSourcePatch) -> IngestSourceOut:
    first = await ctx.store.get_source(source_id)
    sent = body.model_fields_set
    verification: tuple[str, dict[str, Any]] | None = None
    if "config" in sent or ("type" in sent and body.type is not None):
        if "config" not in sent and body.type not in (first.provider, shown_type(first.provider)):
            raise field_error(["body", "config"], "a new type needs its config")
        if "config" in sent:  # without a type: the source's own provider
            verification = resolve(body.type or first.provider, body.config)

    def change(source: Source) -> None:
        """Only what the request sent; a re-read keeps everyone else's changes."""
        if body.name is not None:
            source.name = body.name
        if "uid" in sent:
            source.uid = body.uid
        if "metadata" in sent:
            source.metadata = body.metadata or {}
        if verification is not None:
            source.provider, source.config = verification
        if body.dedup_window_seconds is not None:
            source.dedup_window_ms = body.dedup_window_seconds * 1000

    return source_out(ctx, await save(ctx, first, change))


@router.delete("/{source_id}", status_code=204)
async def delete_source(ctx: Ctx, source_id: SourceRef) -> Response:
    """The source, its application (endpoints, messages, attempts) and its requests."""
    source = await ctx.store.get_source(source_id)
    await ctx.store.delete_source(source.id)
    return Response(status_code=204)


@router.post("/{source_id}/token/rotate", response_model=RotateTokenOut)
async def rotate_token(ctx: Ctx, source_id: SourceRef) -> RotateTokenOut:
    """A new ingest URL. Unlike Svix (which keeps old tokens for 48 hours) the old URL
    stops working at once: a leaked URL is the usual reason to rotate."""
    first = await ctx.store.get_source(source_id)

    def change(source: Source) -> None:
        source.token = new_token()

    saved = await save(ctx, first, change)
    return RotateTokenOut(ingest_url=ingest_url(ctx, saved.token))


@router.post("/{source_id}/dashboard", include_in_schema=False)
async def source_dashboard(ctx: Ctx, source_id: SourceRef, body: PortalAccessIn) -> None:
    await ctx.store.get_source(source_id)
    raise NotSupported("hookline has no consumer portal: use the Ingest API directly")
