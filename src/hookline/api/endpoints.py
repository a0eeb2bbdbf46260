"""/api/v1/app/{app}/endpoint: subscriber endpoints, their secrets and custom headers."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from hookline import ids
from hookline.addresses import AddressPolicy, shown_url
from hookline.api.applications import AppRef
from hookline.api.context import Ctx, DescendingPaging, list_out, now_ms, to_datetime
from hookline.api.endpoint_urls import checked_url, kept_url, same_kind
from hookline.api.errors import field_error
from hookline.api.schemas import (
    ID_PATTERN,
    BreakerOut,
    EndpointHeadersIn,
    EndpointHeadersOut,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointSecretOut,
    EndpointSecretRotateIn,
    EndpointStatsOut,
    EndpointUpsertIn,
    ListEndpointOut,
    SuccessRateOut,
)
from hookline.api.strict_json import StrictJsonRoute
from hookline.api.updates import reapply
from hookline.breaker import CLOSED, STATE_NAMES
from hookline.errors import NotFound
from hookline.filters import InvalidFilter, compile_filter
from hookline.models import NOT_FORWARDED, Endpoint, is_secret_header
from hookline.signing import InvalidSecret, parse_secret

router = APIRouter(
    prefix="/api/v1/app/{app_id}/endpoint", tags=["Endpoint"], route_class=StrictJsonRoute
)
EpRef = Annotated[str, Path(min_length=1, max_length=256, pattern=ID_PATTERN)]
# Userinfo ends at the authority's last "@", as yarl (and so aiohttp) reads it.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def endpoint_out(ep: Endpoint) -> EndpointOut:
    return EndpointOut(
        id=ep.id,
        uid=ep.uid,
        url=shown_url(ep.url),
        description=ep.description,
        disabled=ep.disabled,
        event_types=ep.event_types,
        filter_types=ep.event_types,
        channels=ep.channels,
        throttle_rate=ep.rate_limit,
        rate_limit=ep.rate_limit,
        metadata=ep.metadata,
        version=ep.version,
        max_in_flight=ep.max_in_flight,
        fifo=ep.fifo,
        filter=ep.payload_filter,
        forward_headers=ep.forward_headers,
        send_traceparent=ep.send_traceparent,
        created_at=to_datetime(ep.created_at),
        updated_at=to_datetime(ep.updated_at),
    )


def checked_secret(secret: str, loc: str) -> str:
    try:
        parsed = parse_secret(secret)
    except InvalidSecret as exc:
        raise field_error(["body", loc], str(exc)) from None
    if not parsed.can_sign:
        raise field_error(["body", loc], "a public key cannot sign; pass a whsk_ secret key")
    return secret


def checked_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.match(name) or len(name) > 256:
            raise field_error(["body", "headers", name], "invalid header name")
        if any(c in value for c in "\r\n\0") or len(value) > 8192:
            raise field_error(["body", "headers", name], "invalid header value")
    return headers


def checked_filter(expression: str | None) -> str | None:
    if expression is None:
        return None
    try:
        compile_filter(expression)
    except InvalidFilter as exc:
        raise field_error(["body", "filter"], str(exc)) from None
    return expression


def checked_forward_headers(names: list[str] | None) -> list[str] | None:
    """Lower-cased, each once; None for none. Headers hookline sets itself (signatures,
    body and hop-by-hop headers) are refused rather than silently never forwarded."""
    if not names:
        return None
    kept = list(dict.fromkeys(n.lower() for n in names))
    for name in kept:
        if name in NOT_FORWARDED:
            raise field_error(
                ["body", "forwardHeaders"], f"{name!r} is set by hookline and is never forwarded"
            )
    return kept


def verifying_key(secret: str) -> str:
    """What a receiver needs: the HMAC secret itself, or the ed25519 public key."""
    parsed = parse_secret(secret)
    return secret if parsed.kind == "v1" else parsed.public_key().encode()


@router.get("", response_model=ListEndpointOut)
async def list_endpoints(ctx: Ctx, app_id: AppRef, page: DescendingPaging) -> ListEndpointOut:
    app = await ctx.store.get_application(app_id)
    result = await ctx.store.list_endpoints(app.id, page)
    return list_out(ListEndpointOut, result, endpoint_out)


def new_endpoint(
    app_id: str,
    body: EndpointUpsertIn,
    secret: str,
    headers: dict[str, str],
    policy: AddressPolicy,
    actions: Collection[str] | None = None,
) -> Endpoint:
    """The one way endpoints are built from a request, operational ones included.
    ``actions``: the declared action names its URL may name (none for operational ones)."""
    now = now_ms()
    return Endpoint(
        id=ids.new_id("ep", now),
        app_id=app_id,
        uid=body.uid,
        url=checked_url(body.url, policy, actions=actions),
        secret=secret,
        description=body.description,
        event_types=body.event_types,
        channels=body.channels,
        disabled=body.disabled,
        rate_limit=body.throttle_rate,
        headers=checked_headers(headers),
        metadata=body.metadata or {},
        max_in_flight=body.max_in_flight,
        fifo=body.fifo,
        payload_filter=checked_filter(body.filter),
        forward_headers=checked_forward_headers(body.forward_headers),
        send_traceparent=body.send_traceparent,
        created_at=now,
        updated_at=now,
    )


@router.post("", status_code=201, response_model=EndpointOut)
async def create_endpoint(ctx: Ctx, app_id: AppRef, body: EndpointIn) -> EndpointOut:
    app = await ctx.store.get_application(app_id)
    secret = checked_secret(body.secret, "secret") if body.secret else ctx.new_secret()
    endpoint = new_endpoint(
        app.id, body, secret, body.headers or {}, ctx.address_policy, ctx.action_names
    )
    return endpoint_out(await ctx.store.create_endpoint(endpoint))


@router.get("/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef) -> EndpointOut:
    app = await ctx.store.get_application(app_id)
    return endpoint_out(await ctx.store.get_endpoint(app.id, endpoint_id))


@router.put(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses={201: {"model": EndpointOut, "description": "Created: the id named nothing yet"}},
)
async def upsert_endpoint(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EndpointUpsertIn, response: Response
) -> EndpointOut:
    app = await ctx.store.get_application(app_id)
    try:
        ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    except NotFound:
        created = new_endpoint(
            app.id, body, ctx.new_secret(), {}, ctx.address_policy, ctx.action_names
        )
        if created.uid is None and not endpoint_id.startswith("ep_"):
            created.uid = endpoint_id
        response.status_code = 201
        return endpoint_out(await ctx.store.create_endpoint(created))
    url = same_kind(checked_url(body.url, ctx.address_policy, actions=ctx.action_names), ep.url)
    payload_filter = checked_filter(body.filter)
    forward = checked_forward_headers(body.forward_headers)

    def change(ep: Endpoint) -> None:
        ep.url = kept_url(url, ep.url)
        ep.description, ep.disabled = body.description, body.disabled
        ep.uid = body.uid if body.uid is not None else ep.uid
        ep.event_types, ep.channels = body.event_types, body.channels
        ep.rate_limit, ep.metadata = body.throttle_rate, body.metadata or {}
        ep.max_in_flight, ep.fifo = body.max_in_flight, body.fifo
        ep.payload_filter, ep.forward_headers = payload_filter, forward
        ep.send_traceparent = body.send_traceparent

    return endpoint_out(await update_endpoint(ctx, ep, change))


@router.patch("/{endpoint_id}", response_model=EndpointOut)
async def patch_endpoint(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EndpointPatch
) -> EndpointOut:
    app = await ctx.store.get_application(app_id)
    first = await ctx.store.get_endpoint(app.id, endpoint_id)
    sent = body.model_fields_set
    given = body.url if "url" in sent else None
    url = (
        None if given is None else checked_url(given, ctx.address_policy, actions=ctx.action_names)
    )
    if url is not None:
        same_kind(url, first.url)
    payload_filter = checked_filter(body.filter) if "filter" in sent else None
    forward = checked_forward_headers(body.forward_headers)

    def change(ep: Endpoint) -> None:
        """Only the fields the request sent; a re-read keeps everyone else's changes."""
        if url is not None:
            ep.url = kept_url(url, ep.url)
        if "description" in sent and body.description is not None:
            ep.description = body.description
        if "uid" in sent:
            ep.uid = body.uid
        if "disabled" in sent and body.disabled is not None:
            ep.disabled = body.disabled
        if "event_types" in sent:
            ep.event_types = body.event_types or None
        if "channels" in sent:
            ep.channels = body.channels or None
        if "throttle_rate" in sent:
            ep.rate_limit = body.throttle_rate or None
        if "metadata" in sent:
            ep.metadata = body.metadata or {}
        if "max_in_flight" in sent:
            ep.max_in_flight = body.max_in_flight
        if "fifo" in sent and body.fifo is not None:
            ep.fifo = body.fifo
        if "filter" in sent:
            ep.payload_filter = payload_filter
        if "forward_headers" in sent:
            ep.forward_headers = forward
        if "send_traceparent" in sent and body.send_traceparent is not None:
            ep.send_traceparent = body.send_traceparent

    return endpoint_out(await update_endpoint(ctx, first, change))


async def update_endpoint(
    ctx: Ctx, first: Endpoint, change: Callable[[Endpoint], None]
) -> Endpoint:
    """Apply ``change`` and save; re-read (by id: a uid may change) and re-apply when a
    concurrent update (a rotation, the worker's disable) moved the version, so neither
    change is lost. Operational endpoints are saved the same way."""

    async def read() -> Endpoint:
        return await ctx.store.get_endpoint(first.app_id, first.id)

    return await reapply(first, read, change, ctx.store.update_endpoint)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef) -> Response:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    await ctx.store.delete_endpoint(app.id, ep.id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/secret", response_model=EndpointSecretOut)
async def get_endpoint_secret(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef) -> EndpointSecretOut:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    return EndpointSecretOut(key=verifying_key(ep.secret))


@router.post("/{endpoint_id}/secret/rotate", response_model=EndpointSecretOut)
async def rotate_endpoint_secret(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EndpointSecretRotateIn
) -> EndpointSecretOut:
    """The old key keeps signing alongside the new one until its grace period ends.

    Answers 200 with the new key, as the Svix SDKs since 2.x read it (their
    ``rotate_secret`` parses an ``EndpointSecretOut``); Svix's spec says 204 with no body,
    which older SDKs expect, and they ignore a body. docs/svix-compatibility.md says so."""
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    return EndpointSecretOut(key=verifying_key(await rotate_secret(ctx, ep, body)))


async def rotate_secret(ctx: Ctx, ep: Endpoint, body: EndpointSecretRotateIn) -> str:
    """The new secret (given or generated); the old one keeps signing for the grace
    period. Operational endpoints rotate the same way."""
    new_secret = checked_secret(body.key, "key") if body.key else ctx.new_secret()
    grace = body.grace_period_seconds
    grace_ms = int((ctx.secret_rotation_grace_s if grace is None else grace) * 1000)
    await update_endpoint(
        ctx, ep, lambda fresh: fresh.rotate_secret(new_secret, grace_ms, now_ms())
    )
    return new_secret


@router.get("/{endpoint_id}/headers", response_model=EndpointHeadersOut)
async def get_endpoint_headers(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef) -> EndpointHeadersOut:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    return headers_out(ep.headers)


def headers_out(headers: dict[str, str]) -> EndpointHeadersOut:
    """Svix's answer: credential headers (the names attempts mask) by name only, so
    reading an endpoint's headers never shows a token; they are still sent."""
    secret = [name for name in headers if is_secret_header(name)]
    shown = {name: value for name, value in headers.items() if not is_secret_header(name)}
    return EndpointHeadersOut(headers=shown, sensitive=secret)


@router.put("/{endpoint_id}/headers", status_code=204)
async def set_endpoint_headers(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EndpointHeadersIn
) -> Response:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    headers = checked_headers(dict(body.headers))

    def change(fresh: Endpoint) -> None:
        fresh.headers = dict(headers)

    await update_endpoint(ctx, ep, change)
    return Response(status_code=204)


@router.patch("/{endpoint_id}/headers", status_code=204)
async def patch_endpoint_headers(
    ctx: Ctx, app_id: AppRef, endpoint_id: EpRef, body: EndpointHeadersPatchIn
) -> Response:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)

    def change(fresh: Endpoint) -> None:
        """Merged into the headers as they are now, not as the first read saw them."""
        headers = dict(fresh.headers)
        for name, value in body.headers.items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        for name in body.delete_headers:
            headers.pop(name, None)
        fresh.headers = checked_headers(headers)

    await update_endpoint(ctx, ep, change)
    return Response(status_code=204)


@router.get("/{endpoint_id}/stats", response_model=EndpointStatsOut)
async def get_endpoint_stats(ctx: Ctx, app_id: AppRef, endpoint_id: EpRef) -> EndpointStatsOut:
    """Delivery counts plus health: the breaker, the failure streak, recent success rates."""
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    st = await ctx.store.endpoint_stats(ep.id, now_ms())

    def rate(attempts: int, successes: int) -> SuccessRateOut:
        return SuccessRateOut(
            attempts=attempts,
            successes=successes,
            rate=None if attempts == 0 else round(successes / attempts, 4),
        )

    def when(ms: int | None) -> datetime | None:
        return None if ms is None else to_datetime(ms)

    return EndpointStatsOut(
        success=st.success,
        pending=st.pending,
        sending=st.sending,
        fail=st.fail,
        breaker=BreakerOut(
            state=STATE_NAMES[st.breaker_state],
            failure_streak=st.failure_streak,
            open_until=when(st.paused_until) if st.breaker_state != CLOSED else None,
        ),
        failing_since=when(st.failing_since),
        last_success_at=when(st.last_success_at),
        last_hour=rate(st.attempts_last_hour, st.successes_last_hour),
        last_day=rate(st.attempts_last_day, st.successes_last_day),
    )
