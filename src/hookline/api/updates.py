"""Read-modify-write under optimistic concurrency, for every mutating handler.

The store applies an update only while the row is at the version it was read at. When
another writer got there first (a PATCH, a secret rotation, the worker disabling the
endpoint), the handler's own change is applied again to a fresh read, so both land;
only a row that keeps moving answers 409 ``conflict``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from hookline.api.context import now_ms
from hookline.errors import VersionConflict


class Stamped(Protocol):
    updated_at: int


T = TypeVar("T", bound=Stamped)
TRIES = 5  # reads per request; each lost race means another writer made progress


async def reapply(
    first: T,
    read: Callable[[], Awaitable[T]],
    change: Callable[[T], None],
    write: Callable[[T], Awaitable[T]],
) -> T:
    """``change`` the record (``first``, then fresh reads), stamp it and ``write`` it, until
    a write finds the version it read; raises ``VersionConflict`` (409) after ``TRIES`` tries.
    ``change`` must be a delta (set what the request says, keep the rest), since it may
    run on a record that someone else changed meanwhile."""
    record = first
    for _ in range(TRIES - 1):
        change(record)
        record.updated_at = now_ms()
        try:
            return await write(record)
        except VersionConflict:
            record = await read()
    change(record)
    record.updated_at = now_ms()
    return await write(record)
