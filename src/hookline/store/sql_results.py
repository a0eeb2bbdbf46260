"""Results: attempts, delivery updates and endpoint health, fenced by the lease each
delivery was claimed under, and the operational events they raise. One transaction: in
SQLite's group-commit writer, or on PostgreSQL at READ COMMITTED under row locks, taken
in one order (the deliveries by id, then the endpoints' state rows by endpoint id) so
concurrent recorders and claims cannot deadlock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hookline import breaker, ids
from hookline.breaker import BreakerState, HealthPolicy
from hookline.models import (
    OPERATIONAL_APP_ID,
    DeliveryResult,
    DeliveryStatus,
    EndpointStats,
    TriggerType,
)
from hookline.store import rows
from hookline.store.sql_conn import Conn
from hookline.store.sql_fanout import emit_operational
from hookline.store.sql_queue import (
    PENDING,
    SENDING,
    marks,
    park_endpoint,
    refresh_due,
)

# ----- results --------------------------------------------------------------------------


def record(
    conn: Conn,
    owner: str,
    results: Sequence[DeliveryResult],
    now_ms: int,
    policy: HealthPolicy,
) -> int:
    """Record the results still covered by the lease they were claimed under; returns
    how many were not. A result whose lease ran out (another claim took the delivery,
    or this worker's own later claim did) leaves no trace: no attempt, no delivery
    change, no breaker or health move, no operational event. Then each endpoint's
    breaker and health move on, and operational events go out."""
    live = _still_leased(conn, owner, results)
    conn.executemany(
        f"INSERT INTO attempt ({rows.ATTEMPT_COLS}) VALUES ({marks(15)})",
        [rows.attempt_params(r.attempt) for r in live],
    )
    conn.executemany(
        "UPDATE delivery SET status = ?, attempts = attempts + 1, next_attempt_at = ?,"
        " lease_owner = NULL, updated_at = ? WHERE id = ?",  # fenced above, same transaction
        [
            (
                PENDING if r.next_attempt_at is not None else int(r.attempt.status),
                r.next_attempt_at,
                now_ms,
                r.attempt.delivery_id,
            )
            for r in live
        ],
    )
    by_endpoint: dict[str, list[DeliveryResult]] = defaultdict(list)
    for r in live:
        by_endpoint[r.attempt.endpoint_id].append(r)
    for endpoint_id in sorted(by_endpoint):  # lock order: endpoint id
        _endpoint_health(conn, endpoint_id, by_endpoint[endpoint_id], now_ms, policy)
    for r in live:
        if r.attempt.app_id != OPERATIONAL_APP_ID:
            _message_events(conn, r, policy, now_ms)
    return len(results) - len(live)


def _still_leased(
    conn: Conn, owner: str, results: Sequence[DeliveryResult]
) -> list[DeliveryResult]:
    """The results whose delivery is still sending under (owner, lease_until): the claim
    wrote the lease expiry into ``next_attempt_at``, and every later claim moves it.
    On PostgreSQL the rows are locked as they are read (in id order), so no claim can
    take one over between this check and the update that follows it."""
    held: set[tuple[str, int]] = set()
    wanted = sorted({r.attempt.delivery_id for r in results})
    lock = " ORDER BY id FOR UPDATE" if conn.dialect == "postgresql" else ""
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        held.update(
            conn.execute(
                f"SELECT id, next_attempt_at FROM delivery WHERE id IN ({marks(len(chunk))})"
                f" AND status = ? AND lease_owner = ?{lock}",
                (*chunk, SENDING, owner),
            ).fetchall()
        )
    return [r for r in results if (r.attempt.delivery_id, r.lease_until) in held]


_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


def _endpoint_health(
    conn: Conn,
    endpoint_id: str,
    outcomes: list[DeliveryResult],
    now_ms: int,
    policy: HealthPolicy,
) -> None:
    row = conn.execute(
        "SELECT s.breaker_state, s.failure_streak, s.cooldown_ms, s.paused_until,"
        " s.failing_since, s.last_success_at, e.fifo, e.disabled FROM endpoint_state s"
        " JOIN endpoint e ON e.id = s.endpoint_id WHERE s.endpoint_id = ?"
        + (" FOR UPDATE OF s" if conn.dialect == "postgresql" else ""),
        (endpoint_id,),
    ).fetchone()
    if row is None:  # the endpoint was deleted meanwhile
        return
    state = BreakerState(row[0], row[1], row[2], row[3])
    failing_since, last_success_at, fifo, disabled = row[4], row[5], bool(row[6]), row[7]
    gone = False
    for r in sorted(outcomes, key=lambda o: o.attempt.created_at):
        ok = r.attempt.status is DeliveryStatus.SUCCESS
        state = breaker.after_result(policy.breaker, state, ok, r.attempt.created_at)
        if ok:
            failing_since, last_success_at = None, r.attempt.created_at
        elif failing_since is None:
            failing_since = r.attempt.created_at
        gone = gone or r.disable_endpoint
    conn.execute(
        "UPDATE endpoint_state SET breaker_state = ?, failure_streak = ?, cooldown_ms = ?,"
        " paused_until = ?, failing_since = ?, last_success_at = ? WHERE endpoint_id = ?",
        (
            state.state,
            state.failure_streak,
            state.cooldown_ms,
            state.paused_until,
            failing_since,
            last_success_at,
            endpoint_id,
        ),
    )
    expired = failing_since is not None and now_ms - failing_since >= policy.disable_after_ms
    if not disabled and (gone or expired):
        disable_endpoint(conn, endpoint_id, now_ms, failing_since)
    else:
        refresh_due(conn, endpoint_id, fifo)


def disable_endpoint(conn: Conn, endpoint_id: str, now_ms: int, fail_since: int | None) -> None:
    """Disable and park; the version moves, so an update read before this one cannot
    re-enable the endpoint by writing its stale ``disabled``."""
    found = conn.execute(
        "UPDATE endpoint SET disabled = TRUE, updated_at = ?, version = version + 1"
        " WHERE id = ? AND disabled = FALSE"
        " RETURNING app_id, uid",
        (now_ms, endpoint_id),
    ).fetchone()
    park_endpoint(conn, endpoint_id)
    if found is None or found[0] == OPERATIONAL_APP_ID:
        return
    app_uid = conn.execute("SELECT uid FROM application WHERE id = ?", (found[0],)).fetchone()
    emit_operational(
        conn,
        "endpoint.disabled",
        {
            "appId": found[0],
            "appUid": app_uid[0] if app_uid else None,
            "endpointId": endpoint_id,
            "endpointUid": found[1],
            "failSince": None if fail_since is None else rows.iso(fail_since),
        },
        now_ms,
    )


def _message_events(conn: Conn, r: DeliveryResult, policy: HealthPolicy, now_ms: int) -> None:
    a = r.attempt
    ok = a.status is DeliveryStatus.SUCCESS
    if ok and r.attempt_number <= policy.failing_event_after:
        return
    if ok:
        event = "message.attempt.recovered"
    elif r.disable_endpoint:
        return  # endpoint.disabled says it; the schedule was not exhausted
    elif r.next_attempt_at is None and a.trigger is TriggerType.SCHEDULED:
        event = "message.attempt.exhausted"
    elif r.attempt_number == policy.failing_event_after:
        event = "message.attempt.failing"
    else:
        return
    uids = conn.execute(
        "SELECT (SELECT uid FROM application WHERE id = ?),"
        " (SELECT uid FROM endpoint WHERE id = ?)",
        (a.app_id, a.endpoint_id),
    ).fetchone()
    emit_operational(
        conn,
        event,
        {
            "appId": a.app_id,
            "appUid": uids[0],
            "msgId": a.msg_id,
            "msgEventId": r.event_id,
            "endpointId": a.endpoint_id,
            "endpointUid": uids[1],
            "lastAttempt": {
                "id": a.id,
                "timestamp": rows.iso(a.created_at),
                "responseStatusCode": a.response_status,
            },
        },
        now_ms,
    )


# ----- health -------------------------------------------------------------------------

HOUR_MS = 3600 * 1000


def endpoint_stats(conn: Conn, endpoint_id: str, now_ms: int) -> EndpointStats:
    counts = dict(
        conn.execute(
            "SELECT status, COUNT(*) FROM delivery WHERE endpoint_id = ? GROUP BY status",
            (endpoint_id,),
        ).fetchall()
    )
    state = conn.execute(
        "SELECT breaker_state, failure_streak, paused_until, failing_since, last_success_at"
        " FROM endpoint_state WHERE endpoint_id = ?",
        (endpoint_id,),
    ).fetchone() or (breaker.CLOSED, 0, None, None, None)

    def window(since_ms: int) -> tuple[int, int]:
        total, ok = conn.execute(
            "SELECT COUNT(*), COUNT(CASE WHEN status = 0 THEN 1 END) FROM attempt"
            " WHERE endpoint_id = ? AND id >= ?",
            (endpoint_id, ids.boundary_id("atmpt", since_ms)),
        ).fetchone()
        return int(total), int(ok)

    hour, day = window(now_ms - HOUR_MS), window(now_ms - 24 * HOUR_MS)
    return EndpointStats(
        pending=counts.get(PENDING, 0),
        sending=counts.get(SENDING, 0),
        success=counts.get(int(DeliveryStatus.SUCCESS), 0),
        fail=counts.get(int(DeliveryStatus.FAILED), 0),
        breaker_state=state[0],
        failure_streak=state[1],
        paused_until=state[2],
        failing_since=state[3],
        last_success_at=state[4],
        attempts_last_hour=hour[0],
        successes_last_hour=hour[1],
        attempts_last_day=day[0],
        successes_last_day=day[1],
    )
