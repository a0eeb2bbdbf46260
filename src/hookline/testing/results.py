"""A final result for a claimed delivery, as the worker would record it: for tests that
drive the store's claim and record verbs themselves."""

from __future__ import annotations

from hookline import ids
from hookline.models import (
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    ErrorKind,
    TriggerType,
)


def final_result(
    task: DeliveryTask,
    *,
    ok: bool,
    duration_ms: int,
    at_ms: int,
    attempt_id: str | None = None,
    error_kind: ErrorKind | None = None,
    response_status: int | None = None,
) -> DeliveryResult:
    """No retry follows; a failure is an HTTP error unless ``error_kind`` says otherwise."""
    attempt = Attempt(
        id=attempt_id or ids.new_id("atmpt", at_ms),
        delivery_id=task.delivery_id,
        msg_id=task.msg_id,
        endpoint_id=task.endpoint_id,
        app_id=task.app_id,
        url=task.url,
        status=DeliveryStatus.SUCCESS if ok else DeliveryStatus.FAILED,
        response_status=(200 if ok else 500) if response_status is None else response_status,
        response_body="",
        duration_ms=duration_ms,
        error_kind=error_kind or (None if ok else ErrorKind.HTTP_STATUS),
        trigger=TriggerType.SCHEDULED,
        created_at=at_ms,
    )
    return DeliveryResult(attempt, None, lease_until=task.lease_until)
