"""Turns stored requests into messages of their source's application.

The queue is the store's: accepted or replay-pending requests not yet routed. Each one is
verified again from its stored raw form (for a replay, as at its arrival time), published
with the request's own eventId, then marked routed. A crash between the two finds the
message on the next pass (the eventId is taken) and only marks the request; nothing is
kept in memory that a restart would need.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from hookline import ids
from hookline.errors import NotFound, OutageLog
from hookline.inbound.common import (
    TOKEN_PLACEHOLDER,
    ConfigCache,
    message_headers,
    signed_url,
)
from hookline.models import Message
from hookline.receive import ReceivedRequest, VerificationError, verify
from hookline.receive.config import ConfigError
from hookline.sources import InboundRequest, Source, Verdict, credential_headers
from hookline.store.base import Store

log = logging.getLogger("hookline.inbound")


@dataclass(frozen=True, slots=True)
class RouterConfig:
    batch_size: int = 256  # requests read per pass, routed concurrently (group commits)
    poll_interval: float = 1.0  # the guarantee when no wake-up comes (another process)
    retry_delay: float = 0.5  # first pause after a request fails to route, then doubled
    max_retry_delay: float = 60.0


class Router:
    def __init__(self, store: Store, config: RouterConfig) -> None:
        self._store = store
        self._config = config
        self._configs = ConfigCache()
        self._stopping = asyncio.Event()
        self._held: dict[str, tuple[float, float]] = {}  # request id -> (retry at, delay)
        self.routed = 0

    def stop(self) -> None:
        """``run`` returns once the requests being routed are done."""
        self._stopping.set()

    async def run(self) -> None:
        outage = OutageLog(log, "routing received requests")
        while not self._stopping.is_set():
            try:
                busy = await self.route_pending()
                outage.ok()
            except Exception as exc:  # the store is down, say: the pass waits and tries again
                outage.failed(exc)
                busy = False
            if not busy:
                await self._wait(self._config.poll_interval)

    async def route_pending(self) -> bool:
        """One pass over the queue; True if anything was routed (more may be waiting)."""
        now = time.monotonic()
        # requests held back are left out of the read, so however many fail, a batch
        # still reaches the ones behind them
        waiting = [rid for rid, (retry_at, _) in self._held.items() if retry_at > now]
        queued = await self._store.unrouted_requests(self._config.batch_size, waiting)
        # forget holds that are due but left the queue (routed elsewhere, or deleted)
        still_queued = {r.id for r in queued}
        self._held = {
            rid: held for rid, held in self._held.items() if held[0] > now or rid in still_queued
        }
        pending = [r for r in queued if self._held.get(r.id, (0.0, 0.0))[0] <= now]
        if not pending:
            return False
        sources = await self._sources({r.source_id for r in pending})
        outcomes = await asyncio.gather(
            *(self._route_one(r, sources[r.source_id]) for r in pending)
        )
        return any(outcomes)

    async def _sources(self, source_ids: set[str]) -> dict[str, Source | None]:
        """Each source of a pass read once (a read is a hop to the store's thread and an
        unsealing); None for one deleted meanwhile, whose requests went with it."""
        found: dict[str, Source | None] = {}
        for source_id in source_ids:
            try:
                found[source_id] = await self._store.get_source(source_id)
            except NotFound:
                found[source_id] = None
        return found

    async def _route_one(self, request: InboundRequest, source: Source | None) -> bool:
        """Route one request; a failure holds it back a while, never the others."""
        try:
            await self.route(request, source)
        except Exception as exc:
            first = request.id not in self._held
            _, delay = self._held.get(request.id, (0.0, self._config.retry_delay / 2))
            delay = min(delay * 2, self._config.max_retry_delay)
            self._held[request.id] = (time.monotonic() + delay, delay)
            # the traceback once; each retry after it in a line
            log.log(
                logging.ERROR if first else logging.WARNING,
                "routing request %s failed (%s); retrying in %.1fs",
                request.id,
                exc,
                delay,
                exc_info=first,
                extra={"event": "inbound_route_failed", "request_id": request.id},
            )
            return False
        self._held.pop(request.id, None)
        self.routed += 1
        return True

    async def route(self, request: InboundRequest, source: Source | None) -> None:
        now_ms = int(time.time() * 1000)
        if source is None:  # deleted with its requests meanwhile: nothing left to route
            return
        if request.body is None:
            await self._reject(request, now_ms, "body_expired")
            return
        try:
            config = self._configs.get(source)
        except ConfigError as exc:
            log.error("source %s has a config that does not parse: %s", source.id, exc)
            await self._reject(request, now_ms, "source_misconfigured")
            return
        path = request.path.replace(TOKEN_PLACEHOLDER, source.token)
        raw = ReceivedRequest(
            method=request.method,
            url=signed_url(request.headers, path, request.query),
            headers=request.headers,
            body=request.body,
        )
        try:  # judged as at arrival: a replay days later is not "too old"
            event = verify(config, raw, now=request.received_at / 1000)
        except VerificationError as exc:
            await self._reject(request, now_ms, exc.reason)
            return
        if event.challenge is not None:
            await self._store.mark_routed(request.id, now_ms, None, Verdict.CHALLENGE)
            return
        message = Message(
            id=ids.new_id("msg", now_ms),
            app_id=source.app_id,
            event_type=event.event_type,
            payload=event.payload,
            event_id=request.event_id,
            created_at=now_ms,
            headers=message_headers(request.headers, credential_headers(source)),
        )
        # an earlier pass that published it and died before marking the request finds
        # the eventId taken: the request is marked routed to that message
        verdict = Verdict.ACCEPTED if request.verdict is Verdict.REPLAY else None
        await self._store.publish_routed(request.id, message, now_ms, verdict)

    async def _reject(self, request: InboundRequest, now_ms: int, reason: str) -> None:
        log.warning(
            "request %s is not routed: %s",
            request.id,
            reason,
            extra={
                "event": "inbound_rejected",
                "request_id": request.id,
                "source_id": request.source_id,
                "outcome": "rejected",
                "error_kind": reason,
            },
        )
        await self._store.mark_routed(request.id, now_ms, None, Verdict.REJECTED, reason)

    async def _wait(self, timeout: float) -> None:
        waiters = {
            asyncio.ensure_future(self._store.wait_for_inbound(timeout)),
            asyncio.ensure_future(self._stopping.wait()),
        }
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for fut in waiters:
            if not fut.done():
                fut.cancel()
