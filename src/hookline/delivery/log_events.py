"""The worker's log lines about one delivery attempt, with the ids a log pipeline joins on.

Every attempt is a debug line (``delivery_attempt``): free at info, where the hot path
logs nothing. A delivery given up (retries spent) or an endpoint answering 410 is a
warning. Neither carries the URL's query, a header, the payload or the response body:
only ids, the outcome, the status and the time taken.
"""

from __future__ import annotations

import logging

from hookline.models import DeliveryResult, DeliveryStatus, DeliveryTask, TriggerType

log = logging.getLogger("hookline.worker")


def log_result(result: DeliveryResult) -> None:
    attempt = result.attempt
    final = result.next_attempt_at is None
    failed = attempt.status is not DeliveryStatus.SUCCESS
    given_up = failed and final and attempt.trigger is not TriggerType.MANUAL
    level = logging.WARNING if given_up or result.disable_endpoint else logging.DEBUG
    if not log.isEnabledFor(level):
        return
    outcome = "success" if not failed else ("given_up" if given_up else "failed")
    fields = {
        "app_id": attempt.app_id,
        "endpoint_id": attempt.endpoint_id,
        "msg_id": attempt.msg_id,
        "attempt_id": attempt.id,
        "delivery_id": attempt.delivery_id,
        "outcome": outcome,
        "status": attempt.response_status,
        "duration_ms": attempt.duration_ms,
        "error_kind": attempt.error_kind.value if attempt.error_kind is not None else None,
        "attempt_number": result.attempt_number,
    }
    if result.disable_endpoint:
        log.warning(
            "endpoint %s answered 410 Gone: disabling it",
            attempt.endpoint_id,
            extra={"event": "endpoint_gone", **fields},
        )
    elif given_up:
        log.warning(
            "delivery %s given up after %d attempts (last: %s)",
            attempt.delivery_id,
            result.attempt_number,
            fields["error_kind"] or attempt.response_status,
            extra={"event": "delivery_given_up", **fields},
        )
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "attempt %s of %s: %s",
            attempt.id,
            attempt.delivery_id,
            outcome,
            extra={"event": "delivery_attempt", **fields},
        )


def task_ids(task: DeliveryTask) -> dict[str, str]:
    return {
        "app_id": task.app_id,
        "endpoint_id": task.endpoint_id,
        "msg_id": task.msg_id,
        "delivery_id": task.delivery_id,
    }
