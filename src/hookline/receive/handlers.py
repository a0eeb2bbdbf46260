"""A handler registry: functions per event type, each delivery handled once.

Providers retry, and a retry of a request that was handled (the response was lost, or
came too late) must not run the handlers again. ``WebhookHandlers`` claims the event's id
(``webhook-id``, ``X-GitHub-Delivery``, Stripe's event id: ``VerifiedEvent.id``) in an
idempotency store before running anything, and releases it if a handler raises, so the
provider's retry of that failed delivery runs them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hookline.receive.types import VerifiedEvent

Handler = Callable[[VerifiedEvent], "object | Awaitable[object]"]
H = TypeVar("H", bound=Callable[..., object])
KEY_MAX = 256  # what every store's key column holds


class IdempotencyStore(Protocol):
    """Where handled deliveries are remembered. ``claim`` must be atomic: of any number
    of callers (threads, processes) claiming one key, exactly one gets True."""

    def claim(self, key: str) -> bool:
        """True if ``key`` was not claimed (and now is), False if it already was."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` (its handling failed), so the next claim of it succeeds."""
        ...


class MemoryIdempotencyStore:
    """Claims in this process's memory, each kept ``ttl_seconds``; past ``max_keys`` the
    oldest are forgotten first. Enough for one process; several processes (or workers of
    one server) need a shared store, such as ``SqlAlchemyIdempotencyStore``."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 86_400.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_keys < 1:
            raise ValueError("ttl_seconds and max_keys must be positive")
        self._ttl = ttl_seconds
        self._max = max_keys
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()  # oldest claim first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def claim(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            while self._expiry:
                oldest, expires = next(iter(self._expiry.items()))
                if expires > now:
                    break
                del self._expiry[oldest]
            if key in self._expiry:
                return False
            self._expiry[key] = now + self._ttl
            while len(self._expiry) > self._max:
                self._expiry.popitem(last=False)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What ``dispatch`` did: ``duplicate`` if the id was already claimed (nothing ran),
    else how many handlers ran."""

    duplicate: bool
    handled: int


def _is_async(handler: Callable[..., object]) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


class WebhookHandlers:
    """``@handlers.on("invoice.paid")`` (exact), ``@handlers.on("invoice.*")`` (every type
    that starts with ``invoice.``), ``@handlers.on("*")`` (every type).

    ``dispatch`` runs the exact matches first, then the prefix (and ``*``) matches, each
    group in registration order. Once per event id: the id is claimed before the first
    handler runs; a duplicate runs nothing. If a handler raises, the claim is released and
    the exception propagates (the framework answers 5xx, the provider retries, the retry
    runs every matching handler again, including those that had finished). An event
    without an id is handled every time. ``namespace`` keeps the ids of registries that
    share one store apart.
    """

    def __init__(self, store: IdempotencyStore | None = None, *, namespace: str = "") -> None:
        self.store: IdempotencyStore = store if store is not None else MemoryIdempotencyStore()
        self.namespace = namespace
        self._exact: list[tuple[str, Handler]] = []
        self._prefix: list[tuple[str, Handler]] = []

    def on(self, pattern: str) -> Callable[[H], H]:
        """Register the decorated function for ``pattern``; it gets the ``VerifiedEvent``."""
        star = pattern.find("*")
        if not pattern or (star != -1 and star != len(pattern) - 1):
            raise ValueError(f"{pattern!r}: '*' may only end a pattern ('invoice.*', '*')")

        def register(handler: H) -> H:
            if star == -1:
                self._exact.append((pattern, handler))
            else:
                self._prefix.append((pattern[:-1], handler))
            return handler

        return register

    def handlers_for(self, event_type: str) -> list[Handler]:
        """The handlers ``dispatch`` runs for ``event_type``, in the order it runs them."""
        exact = [h for name, h in self._exact if name == event_type]
        return exact + [h for start, h in self._prefix if event_type.startswith(start)]

    def key(self, event: VerifiedEvent) -> str | None:
        """The store key of ``event``: its id, in the namespace, at most 256 characters."""
        if event.id is None:
            return None
        key = f"{self.namespace}:{event.id}" if self.namespace else event.id
        if len(key) <= KEY_MAX:
            return key
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def dispatch(self, event: VerifiedEvent) -> Dispatched:
        """Run the matching (synchronous) handlers once for ``event``'s id."""
        handlers = self.handlers_for(event.event_type)
        if any(_is_async(h) for h in handlers):
            raise TypeError("an async handler matches: await adispatch(event) instead")
        key = self.key(event) if handlers else None
        if key is not None and not self.store.claim(key):
            return Dispatched(duplicate=True, handled=0)
        try:
            for handler in handlers:
                handler(event)
        except BaseException:
            if key is not None:
                self.store.release(key)
            raise
        return Dispatched(duplicate=False, handled=len(handlers))

    async def adispatch(self, event: VerifiedEvent) -> Dispatched:
        """``dispatch`` for async applications: async handlers are awaited, synchronous
        ones and the store's calls run in a worker thread, so the event loop never blocks."""
        handlers = self.handlers_for(event.event_type)
        key = self.key(event) if handlers else None
        if key is not None and not await asyncio.to_thread(self.store.claim, key):
            return Dispatched(duplicate=True, handled=0)
        try:
            for handler in handlers:
                if _is_async(handler):
                    await handler(event)  # type: ignore[misc]
                else:
                    await asyncio.to_thread(handler, event)
        except BaseException:
            if key is not None:
                await asyncio.to_thread(self.store.release, key)
            raise
        return Dispatched(duplicate=False, handled=len(handlers))
