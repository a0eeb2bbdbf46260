"""``GET /api/v1/health/ready``: may a load balancer send this deployment traffic?

Liveness (``/api/v1/health``) asks whether this process should be restarted; readiness
asks whether the whole deployment can do its work: the database answers, and a worker
process has beaten recently (else published messages would wait unseen). Every check is
bounded by a timeout, so the probe answers even when the database hangs. It is not part
of Svix's API, so it stays out of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hookline.api.context import ApiContext
from hookline.errors import StoreError
from hookline.store.base import Store

PATH = "/api/v1/health/ready"
STALE_AFTER = 3  # heartbeat intervals without a beat before the workers count as down

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ReadyPolicy:
    timeout_s: float  # per check
    heartbeat_s: float
    require_worker: bool


async def check(store: Store, policy: ReadyPolicy) -> tuple[str | None, dict[str, Any]]:
    """Run the checks; return the first failure's reason (None when ready) and each
    check's verdict."""
    checks: dict[str, Any] = {}
    reason: str | None = None
    try:
        await asyncio.wait_for(store.ping(), policy.timeout_s)
        checks["database"] = "ok"
    except TimeoutError:
        reason = f"database unavailable: no answer in {policy.timeout_s:g}s"
    except Exception as exc:
        reason = f"database unavailable: {_why(exc)}"
    if reason is not None:
        checks["database"] = "failed"
        checks["worker"] = "unknown"
        return reason, checks
    if not policy.require_worker:
        checks["worker"] = "skipped"
        return None, checks
    try:
        last = await asyncio.wait_for(store.last_beat(), policy.timeout_s)
    except TimeoutError:
        checks["worker"] = "unknown"
        return f"database unavailable: no answer in {policy.timeout_s:g}s", checks
    except Exception as exc:
        checks["worker"] = "unknown"
        return f"database unavailable: {_why(exc)}", checks
    age_s = None if last is None else max(0.0, time.time() - last / 1000)
    checks["worker"] = {"lastHeartbeatAgeSeconds": None if age_s is None else round(age_s, 3)}
    if age_s is None:
        return "no worker heartbeat", checks
    if age_s > STALE_AFTER * policy.heartbeat_s:
        return f"no worker heartbeat for {age_s:.0f} s", checks
    return None, checks


def _why(exc: Exception) -> str:
    """The store's own words (written for clients), else only the error's type: anyone
    may call the probe, so a driver's message (hosts, paths) stays out of its answer."""
    return str(exc) if isinstance(exc, StoreError) else type(exc).__name__


@router.get(PATH)
async def get_ready(request: Request) -> JSONResponse:
    """Unauthenticated, like the liveness probe: it names no data, only which check failed."""
    ctx: ApiContext = request.app.state.context
    policy = ReadyPolicy(ctx.health_timeout_s, ctx.heartbeat_s, ctx.ready_require_worker)
    reason, checks = await check(ctx.store, policy)
    if reason is None:
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {"code": "not_ready", "detail": reason, "checks": checks},
        status_code=503,
        headers={"Cache-Control": "no-store"},
    )
