"""Views Svix serves beside messages and attempts: exact bytes and headers, and a count.

``GET …/msg/{msg_id}/raw`` returns the payload as the stored bytes, so a consumer can
check a signature or a hash over exactly what was sent (``MessageOut.payload`` is parsed
JSON). ``GET …/msg/{msg_id}/attempt/{attempt_id}/headers`` returns the headers an attempt
sent and the ones it got back. Credentials were masked when the attempt was recorded:
their names are listed in ``sensitive`` and their values are not returned at all.
``GET …/attempt/endpoint/{endpoint_id}/count`` counts what that list would show, up to a
ceiling past which it says ``approximated``, as Svix's does."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter

from hookline.api.applications import AppRef
from hookline.api.context import Ctx
from hookline.api.messages import AttemptQuery, Ref
from hookline.api.schemas import Schema
from hookline.errors import NotFound
from hookline.models import is_secret_header

router = APIRouter(prefix="/api/v1/app/{app_id}", tags=["Message"])
COUNT_CEILING = 10_000


class MessageRawPayloadOut(Schema):
    payload: str


class CountOut(Schema):
    count: int
    approximated: bool


class MessageAttemptHeadersOut(Schema):
    sent_headers: dict[str, str]
    sensitive: list[str]
    response_headers: list[tuple[str, str]] | None = None


@router.get("/msg/{msg_id}/raw", response_model=MessageRawPayloadOut)
async def get_raw_payload(ctx: Ctx, app_id: AppRef, msg_id: Ref) -> MessageRawPayloadOut:
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    if msg.payload is None:
        raise NotFound(f"the payload of {msg.id} has expired")
    return MessageRawPayloadOut(payload=msg.payload.decode("utf-8", errors="replace"))


@router.get(
    "/msg/{msg_id}/attempt/{attempt_id}/headers",
    response_model=MessageAttemptHeadersOut,
    tags=["Message Attempt"],
)
async def get_attempt_headers(
    ctx: Ctx, app_id: AppRef, msg_id: Ref, attempt_id: Ref
) -> MessageAttemptHeadersOut:
    app = await ctx.store.get_application(app_id)
    msg = await ctx.store.get_message(app.id, msg_id)
    attempt = await ctx.store.get_attempt(app.id, msg.id, attempt_id)
    sent = attempt.request_headers or {}
    sensitive = sorted(name for name in sent if is_secret_header(name))
    received = attempt.response_headers
    return MessageAttemptHeadersOut(
        sent_headers={k: v for k, v in sent.items() if k not in sensitive},
        sensitive=sensitive,
        response_headers=None if received is None else sorted(received.items()),
    )


@router.get(
    "/attempt/endpoint/{endpoint_id}/count", response_model=CountOut, tags=["Message Attempt"]
)
async def count_attempts_by_endpoint(
    ctx: Ctx, app_id: AppRef, endpoint_id: Ref, flt: AttemptQuery
) -> CountOut:
    app = await ctx.store.get_application(app_id)
    ep = await ctx.store.get_endpoint(app.id, endpoint_id)
    counted = await ctx.store.count_attempts(app.id, replace(flt, endpoint_id=ep.id), COUNT_CEILING)
    return CountOut(count=min(counted, COUNT_CEILING), approximated=counted > COUNT_CEILING)
