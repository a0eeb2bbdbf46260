"""The delivery queue in SQLite: claims under a lease, parking of disabled endpoints.

Plain functions of a connection, run inside the store's group-commit writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from hookline.models import DeliveryResult, DeliveryStatus, DeliveryTask, TriggerType
from hookline.store import rows

Conn = sqlite3.Connection


def marks(n: int) -> str:
    return ",".join("?" * n)


def claim(conn: Conn, owner: str, limit: int, now_ms: int, lease_ms: int) -> list[DeliveryTask]:
    """Lease due deliveries: the lease expiry becomes next_attempt_at, so a crashed
    worker's deliveries simply fall due again (at-least-once)."""
    claimed = conn.execute(
        "UPDATE delivery SET status=?, lease_owner=?, next_attempt_at=? WHERE id IN ("
        " SELECT id FROM delivery WHERE next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)"
        " RETURNING id, msg_id, endpoint_id, attempts, trigger",
        (int(DeliveryStatus.SENDING), owner, now_ms + lease_ms, now_ms, limit),
    ).fetchall()
    if not claimed:
        return []
    msg_ids = list({r[1] for r in claimed})
    ep_ids = list({r[2] for r in claimed})
    messages = {
        r[0]: r
        for r in conn.execute(
            "SELECT id, app_id, event_type, payload, created_at FROM message"
            f" WHERE id IN ({marks(len(msg_ids))})",
            msg_ids,
        )
    }
    endpoints = {
        r[0]: rows.endpoint_from_row(r)
        for r in conn.execute(
            f"SELECT {rows.ENDPOINT_COLS} FROM endpoint WHERE id IN ({marks(len(ep_ids))})",
            ep_ids,
        )
    }
    tasks: list[DeliveryTask] = []
    orphaned: list[tuple[int, str]] = []
    for dlv_id, msg_id, ep_id, attempts, trigger in claimed:
        msg = messages.get(msg_id)
        ep = endpoints.get(ep_id)
        if msg is None or msg[3] is None or ep is None:
            orphaned.append((int(DeliveryStatus.FAILED), dlv_id))
            continue
        if ep.disabled:
            park_delivery(conn, dlv_id)
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
            )
        )
    if orphaned:
        conn.executemany(
            "UPDATE delivery SET status=?, next_attempt_at=NULL, lease_owner=NULL WHERE id=?",
            orphaned,
        )
    return tasks


def park_delivery(conn: Conn, delivery_id: str) -> None:
    conn.execute(
        "UPDATE delivery SET status=?, next_attempt_at=NULL, lease_owner=NULL WHERE id=?",
        (int(DeliveryStatus.PENDING), delivery_id),
    )


def park_endpoint(conn: Conn, endpoint_id: str) -> None:
    """A disabled endpoint's due deliveries leave the due index until it is enabled."""
    conn.execute(
        "UPDATE delivery SET next_attempt_at=NULL, status=?, lease_owner=NULL"
        " WHERE endpoint_id=? AND next_attempt_at IS NOT NULL AND lease_owner IS NULL",
        (int(DeliveryStatus.PENDING), endpoint_id),
    )


def unpark_endpoint(conn: Conn, endpoint_id: str, now_ms: int) -> None:
    conn.execute(
        "UPDATE delivery SET next_attempt_at=? WHERE endpoint_id=? AND status=?"
        " AND next_attempt_at IS NULL",
        (now_ms, endpoint_id, int(DeliveryStatus.PENDING)),
    )


def record(conn: Conn, owner: str, results: Sequence[DeliveryResult], now_ms: int) -> None:
    """Attempts are always kept; a delivery changes only while ``owner`` holds its lease."""
    conn.executemany(
        f"INSERT INTO attempt ({rows.ATTEMPT_COLS}) VALUES ({marks(13)})",
        [rows.attempt_params(r.attempt) for r in results],
    )
    conn.executemany(
        "UPDATE delivery SET status=?, attempts=attempts+1, next_attempt_at=?,"
        " lease_owner=NULL, updated_at=? WHERE id=? AND lease_owner=?",
        [
            (
                int(DeliveryStatus.PENDING if r.next_attempt_at is not None else r.attempt.status),
                r.next_attempt_at,
                now_ms,
                r.attempt.delivery_id,
                owner,
            )
            for r in results
        ],
    )
    for endpoint_id in {r.attempt.endpoint_id for r in results if r.disable_endpoint}:
        conn.execute(
            "UPDATE endpoint SET disabled=1, updated_at=? WHERE id=?", (now_ms, endpoint_id)
        )
        park_endpoint(conn, endpoint_id)
