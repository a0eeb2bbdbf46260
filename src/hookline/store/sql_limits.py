"""Per-endpoint limits, kept in the database so every worker process shares them.

A claim reads each planned endpoint's limits inside its write transaction and leases
no more than they allow, so the limits hold for any number of worker processes:

- in flight: the endpoint's deliveries that are ``sending`` under an unexpired lease,
  counted through the ``(endpoint_id, status, id)`` index. A dead worker's lease runs
  out and its slot comes back by itself; there is no counter to drift.
- one at a time for a FIFO endpoint and for an open breaker's probe.
- ``throttleRate``: token buckets in ``endpoint_state.tokens/tokens_at`` and
  ``app_state`` (NULL tokens: full), refilled at ``rate`` a second up to one second's
  worth, charged for what was actually leased and written back in the same transaction.

An endpoint that still has due work but no room is taken out of ``ready_endpoints``
until room can come back: out of tokens, it is paused until its next token; at its
cap, its ``next_due_at`` moves to its earliest lease end (a recorded result moves it
back at once). Both are hints that save claims; the counts above are the authority.

On PostgreSQL, where claims run concurrently (READ COMMITTED), a claim first locks the
planned endpoints' ``endpoint_state`` rows, in endpoint id order and passing over those
another transaction holds (``SKIP LOCKED``: that endpoint waits for the next round), then
the ``app_state`` rows of their throttled applications, in application id order. Every
count and bucket above is read after those locks, so claims of one endpoint take turns
and each sees what the previous one leased. SQLite's single writer needs none of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from hookline import breaker
from hookline.models import DeliveryStatus
from hookline.store.sql_conn import Conn
from hookline.store.sql_queue import marks

SENDING = int(DeliveryStatus.SENDING)


@dataclass(slots=True)
class Bucket:
    """``rate`` tokens a second, holding at most ``max(rate, 1)`` (one second of burst)."""

    rate: int
    tokens: float
    at: int
    taken: bool = False  # changed in this claim: write it back

    @classmethod
    def load(cls, rate: int, tokens: float | None, at: int | None, now_ms: int) -> Bucket:
        size = max(float(rate), 1.0)
        if tokens is None or at is None:
            return cls(rate, size, now_ms)
        elapsed = max(0, now_ms - at) / 1000
        return cls(rate, min(size, tokens + elapsed * rate), max(now_ms, at))

    def available(self) -> int:
        return int(self.tokens + 1e-9)  # no token lost to float rounding

    def take(self, n: int) -> None:
        if n > 0:
            self.tokens -= n
            self.taken = True

    def next_token_at(self) -> int:
        missing = max(0.0, 1.0 - self.tokens)
        return self.at + max(1, math.ceil(missing / self.rate * 1000))


@dataclass(slots=True)
class EndpointLimits:
    """One endpoint's limits as the claim transaction sees them."""

    endpoint_id: str
    app_id: str
    fifo: bool
    probe: bool  # the breaker is not closed: what is sent now is its one probe
    cap: int
    in_flight: int
    first_lease_end: int | None  # when the earliest in-flight lease runs out
    buckets: tuple[Bucket, ...]

    def room(self) -> int:
        room = self._slots()
        for bucket in self.buckets:
            room = min(room, bucket.available())
        return max(0, room)

    def busy_until(self) -> int | None:
        """At its cap: nothing can start before its first lease ends (or a result is
        recorded, which recomputes ``next_due_at``)."""
        return self.first_lease_end if self._slots() <= 0 else None

    def _slots(self) -> int:
        return (1 if self.fifo or self.probe else self.cap) - self.in_flight


_READ = (
    "SELECT s.app_id, s.paused_until, s.breaker_state, s.tokens, s.tokens_at,"
    " e.max_in_flight, e.rate_limit, e.fifo, a.rate_limit,"
    " COUNT(d.id), MIN(d.next_attempt_at)"
    " FROM endpoint_state s JOIN endpoint e ON e.id = s.endpoint_id"
    " LEFT JOIN application a ON a.id = s.app_id"
    # the unary + keeps the planner on (endpoint_id, status): the due index would also
    # walk every retry scheduled for later
    " LEFT JOIN delivery d ON d.endpoint_id = s.endpoint_id AND d.status = ?"
    " AND +d.next_attempt_at > ?"
    " WHERE s.endpoint_id = ?"
    " GROUP BY s.endpoint_id, e.id, a.id"
)


class ClaimLimits:
    """The limits one claim transaction reads, charges and writes back.

    Application buckets are shared by the application's endpoints within the claim,
    so they are loaded once and written once.
    """

    def __init__(self, conn: Conn, now_ms: int, default_cap: int) -> None:
        self._conn = conn
        self._now = now_ms
        self._default_cap = default_cap
        self._endpoint_buckets: dict[str, Bucket] = {}
        self._app_buckets: dict[str, Bucket] = {}

    def lock(self, endpoint_ids: Sequence[str]) -> set[str]:
        """The planned endpoints this claim may serve. On PostgreSQL: their state rows,
        locked in endpoint id order, less those another claim or result holds now; then
        their applications' bucket rows (created if missing), locked in id order. One
        global order in every verb that locks several endpoints keeps them deadlock-free."""
        if self._conn.dialect != "postgresql":
            return set(endpoint_ids)
        wanted = sorted(set(endpoint_ids))
        if not wanted:
            return set()
        locked = self._conn.execute(
            "SELECT s.endpoint_id, s.app_id, a.rate_limit FROM endpoint_state s"
            " LEFT JOIN application a ON a.id = s.app_id"
            f" WHERE s.endpoint_id IN ({marks(len(wanted))})"
            " ORDER BY s.endpoint_id FOR UPDATE OF s SKIP LOCKED",
            wanted,
        ).fetchall()
        apps = sorted({app for _, app, rate in locked if rate})
        if apps:
            self._conn.executemany(
                "INSERT INTO app_state (app_id, tokens, tokens_at) VALUES (?, NULL, NULL)"
                " ON CONFLICT (app_id) DO NOTHING",
                [(app,) for app in apps],
            )
            self._conn.execute(
                f"SELECT app_id FROM app_state WHERE app_id IN ({marks(len(apps))})"
                " ORDER BY app_id FOR UPDATE",
                apps,
            ).fetchall()
        return {r[0] for r in locked}

    def read(self, endpoint_id: str) -> EndpointLimits | None:
        """The endpoint's limits now; None if it is gone or paused (an open breaker's
        cool-down, a probe already out, no token yet)."""
        row = self._conn.execute(_READ, (SENDING, self._now, endpoint_id)).fetchone()
        if row is None or row[0] is None:
            return None
        app_id, paused_until, breaker_state, tokens, tokens_at = row[:5]
        cap, rate, fifo, app_rate, in_flight, first_lease_end = row[5:]
        if paused_until is not None and paused_until > self._now:
            return None
        buckets: list[Bucket] = []
        if rate:
            bucket = Bucket.load(rate, tokens, tokens_at, self._now)
            self._endpoint_buckets[endpoint_id] = bucket
            buckets.append(bucket)
        if app_rate:
            buckets.append(self._app_bucket(app_id, app_rate))
        return EndpointLimits(
            endpoint_id=endpoint_id,
            app_id=app_id,
            fifo=bool(fifo),
            probe=breaker_state != breaker.CLOSED,
            cap=cap or self._default_cap,
            in_flight=in_flight,
            first_lease_end=first_lease_end,
            buckets=tuple(buckets),
        )

    def charge(self, limits: EndpointLimits, leased: int, lease_until: int) -> None:
        """Count ``leased`` new sends in flight and take their tokens."""
        for bucket in limits.buckets:
            bucket.take(leased)
        limits.in_flight += leased
        if leased and limits.first_lease_end is None:
            limits.first_lease_end = lease_until

    def pause_if_dry(self, limits: EndpointLimits, due: int | None) -> None:
        """Work still due and a bucket empty: pause the endpoint until its next token."""
        if due is None or due > self._now:
            return
        empty = [b for b in limits.buckets if b.available() < 1]
        if empty:
            until = max(b.next_token_at() for b in empty)
            self._conn.execute(
                "UPDATE endpoint_state SET paused_until = ?"
                " WHERE endpoint_id = ? AND (paused_until IS NULL OR paused_until < ?)",
                (until, limits.endpoint_id, until),
            )

    def write_back(self) -> None:
        """Store the buckets this claim took tokens from."""
        self._conn.executemany(
            "UPDATE endpoint_state SET tokens = ?, tokens_at = ? WHERE endpoint_id = ?",
            [(b.tokens, b.at, ep) for ep, b in self._endpoint_buckets.items() if b.taken],
        )
        self._conn.executemany(
            "INSERT INTO app_state (app_id, tokens, tokens_at) VALUES (?, ?, ?)"
            " ON CONFLICT (app_id) DO UPDATE SET tokens = excluded.tokens,"
            " tokens_at = excluded.tokens_at",
            [(app, b.tokens, b.at) for app, b in self._app_buckets.items() if b.taken],
        )

    def _app_bucket(self, app_id: str, rate: int) -> Bucket:
        bucket = self._app_buckets.get(app_id)
        if bucket is None:
            row = self._conn.execute(
                "SELECT tokens, tokens_at FROM app_state WHERE app_id = ?", (app_id,)
            ).fetchone()
            tokens, at = row if row is not None else (None, None)
            bucket = self._app_buckets[app_id] = Bucket.load(rate, tokens, at, self._now)
        return bucket
