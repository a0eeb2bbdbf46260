"""Claims: lease due deliveries per endpoint, within the endpoint's limits.

One transaction per batch: in SQLite's group-commit writer, or on PostgreSQL at READ
COMMITTED under row locks (the endpoints' state rows, then the leased deliveries, both
``SKIP LOCKED``: what another worker is claiming now is left to it). The limits are read
and charged in that transaction (``sql_limits``), so they hold across worker processes;
the tasks are built from the leased rows with two reads (messages and endpoints),
however many rows were leased.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from hookline import breaker
from hookline.models import DeliveryStatus, DeliveryTask, ReadyEndpoint, TriggerType
from hookline.signing.at_rest import SecretBox
from hookline.store import rows
from hookline.store.sql_conn import Conn
from hookline.store.sql_limits import ClaimLimits, EndpointLimits
from hookline.store.sql_queue import (
    PENDING,
    SENDING,
    fifo_head,
    marks,
    refresh_due,
    skip_locked,
)


def claim(
    conn: Conn,
    owner: str,
    plan: Sequence[tuple[ReadyEndpoint, int]],
    now_ms: int,
    lease_ms: int,
    default_max_in_flight: int,
    box: SecretBox,
) -> list[DeliveryTask]:
    """Lease up to ``n`` due deliveries of each planned endpoint, within its limits.

    The limits (in-flight cap, FIFO, the breaker's one probe, token buckets) are read
    and charged here, in the claim's transaction (``sql_limits``), so they hold
    across every worker process. The lease expiry becomes ``next_attempt_at``, so a
    crashed worker's deliveries fall due again by themselves (at-least-once); each task
    carries it as ``lease_until``, the token its result is fenced by.
    """
    lease_until = now_ms + lease_ms
    limits = ClaimLimits(conn, now_ms, default_max_in_flight)
    mine = limits.lock([ready.endpoint_id for ready, wanted in plan if wanted > 0])
    claimed: list[Claimed] = []
    for ready, wanted in plan:
        ep = limits.read(ready.endpoint_id) if ready.endpoint_id in mine else None
        if ep is None:
            continue
        taken = _lease(conn, owner, ep, min(wanted, ep.room()), now_ms, lease_until)
        claimed.extend(taken)
        if taken and ep.probe:
            conn.execute(
                "UPDATE endpoint_state SET breaker_state = ?, paused_until = ?"
                " WHERE endpoint_id = ?",
                (breaker.HALF_OPEN, lease_until, ep.endpoint_id),
            )
        limits.charge(ep, len(taken), lease_until)
        due = refresh_due(conn, ep.endpoint_id, ep.fifo, not_before=ep.busy_until())
        limits.pause_if_dry(ep, due)
    limits.write_back()
    return _tasks_for(conn, claimed, now_ms, lease_until, box) if claimed else []


Claimed = tuple[str, str, str, int, int]  # delivery, message, endpoint, attempts, trigger


def _lease(
    conn: Conn, owner: str, ep: EndpointLimits, n: int, now_ms: int, lease_until: int
) -> list[Claimed]:
    """Lease up to ``n`` due rows of the endpoint; of a FIFO endpoint, only its head."""
    if n <= 0:
        return []
    params: list[str | int]
    if ep.fifo:
        head = fifo_head(conn, ep.endpoint_id)
        if head is None or head[1] is None or head[1] > now_ms:  # in flight, or not due
            return []
        if conn.dialect == "postgresql":  # a stale result may hold it: leave it then
            picked = "SELECT id FROM delivery WHERE id = ? AND next_attempt_at <= ?"
            picked, params = picked + skip_locked(conn), [head[0], now_ms]
        else:
            picked, params = "SELECT ? AS id", [head[0]]
    else:
        picked = (
            "SELECT id FROM delivery WHERE endpoint_id = ? AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at LIMIT ?" + skip_locked(conn)
        )
        params = [ep.endpoint_id, now_ms, n]
    # The rows are picked in a CTE, which PostgreSQL evaluates once: a LIMIT sub-select
    # inside ``WHERE id IN (...)`` may be evaluated again by the plan, leasing more than n.
    return conn.execute(
        f"WITH picked AS ({picked}) UPDATE delivery SET status = ?, lease_owner = ?,"
        " next_attempt_at = ? WHERE id IN (SELECT id FROM picked)"
        " RETURNING id, msg_id, endpoint_id, attempts, trigger",
        (*params, SENDING, owner, lease_until),
    ).fetchall()


def _tasks_for(
    conn: Conn,
    claimed: list[Claimed],
    now_ms: int,
    lease_until: int,
    box: SecretBox,
) -> list[DeliveryTask]:
    msg_ids = list({r[1] for r in claimed})
    ep_ids = list({r[2] for r in claimed})
    # the event type's retry schedule comes with the message (a primary-key join), so a
    # schedule changed through the API counts from the next claim, at no extra query
    messages = {
        r[0]: (*r[:6], None if r[6] is None else rows.load(r[6]), _schedule(r[7]), *r[8:])
        for r in conn.execute(
            "SELECT m.id, m.app_id, m.event_type, m.payload, m.created_at, m.event_id,"
            " m.headers, et.retry_schedule, m.traceparent, m.tracestate FROM message m"
            " LEFT JOIN event_type et ON et.name = m.event_type"
            f" WHERE m.id IN ({marks(len(msg_ids))})",
            msg_ids,
        )
    }
    endpoints = {
        r[0]: rows.endpoint_from_row(r, box)
        for r in conn.execute(
            f"SELECT {rows.ENDPOINT_COLS} FROM endpoint WHERE id IN ({marks(len(ep_ids))})",
            ep_ids,
        )
    }
    tasks: list[DeliveryTask] = []
    dropped: list[tuple[int, str]] = []
    for dlv_id, msg_id, ep_id, attempts, trigger in claimed:
        msg = messages.get(msg_id)
        ep = endpoints.get(ep_id)
        if msg is None or msg[3] is None or ep is None:  # deleted, or payload expired
            dropped.append((int(DeliveryStatus.FAILED), dlv_id))
            continue
        if ep.disabled:
            dropped.append((PENDING, dlv_id))
            continue
        tasks.append(
            DeliveryTask(
                delivery_id=dlv_id,
                attempts=attempts,
                trigger=TriggerType(trigger),
                msg_id=msg_id,
                app_id=msg[1],
                event_type=msg[2],
                payload=bytes(msg[3]),
                msg_created_at=msg[4],
                endpoint_id=ep_id,
                url=ep.url,
                headers=ep.headers,
                signing_keys=tuple(ep.signing_keys(now_ms)),
                endpoint_uid=ep.uid,
                event_id=msg[5],
                lease_until=lease_until,
                original_headers=msg[6],
                forward_headers=_lowered(ep.forward_headers),
                retry_schedule=msg[7],
                traceparent=msg[8],
                tracestate=msg[9],
                send_traceparent=ep.send_traceparent,
            )
        )
    conn.executemany(
        "UPDATE delivery SET status = ?, next_attempt_at = NULL, lease_owner = NULL WHERE id = ?",
        dropped,
    )
    return tasks


@lru_cache(maxsize=256)
def _schedule(text: str | None) -> tuple[float, ...] | None:
    """A stored schedule parsed once per distinct text (claims see the same few)."""
    return None if text is None else tuple(float(s) for s in rows.load(text))


def _lowered(names: list[str] | None) -> tuple[str, ...]:
    return tuple(n.lower() for n in names) if names else ()
