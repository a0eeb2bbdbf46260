"""``POST /in/{token}``: verify, store, then answer, as plain ASGI in front of the API.

Every request that reaches a source is stored (accepted, duplicate, challenge or rejected)
before anything is answered, and a 2xx goes out only once that write has committed: a
crash after the answer loses nothing, since routing works from the stored row.

Sources are looked up by token hash and kept for ``source_ttl`` seconds (unknown tokens
too, so a flood of guesses costs no reads). A cached source is never trusted past a
change: the intake write checks that the source is still at the version the request was
verified against, and on a mismatch the source is read again and the request verified
again. So a rotated-away token or a removed secret stops working at once, in every
process sharing the store, and the cache only ever saves reads.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from hookline import ids
from hookline.errors import Conflict, NotFound, StoreError, VersionConflict
from hookline.inbound.common import (
    FORWARDED,
    TOKEN_PLACEHOLDER,
    ConfigCache,
    TrustedProxies,
    header_map,
    signed_url,
)
from hookline.metrics import Metrics
from hookline.receive import ReceivedRequest, VerificationError, VerifiedEvent, verify
from hookline.receive.config import ConfigError
from hookline.sources import (
    INTAKE_PREFIX,
    InboundRequest,
    Source,
    Verdict,
    credential_headers,
    token_hash,
)
from hookline.store.base import Store

log = logging.getLogger("hookline.inbound")

_TOKEN = re.compile(r"^/in/([A-Za-z0-9_\-]{1,256})$")
_JSON = b"application/json"
RETRY_AFTER_S = b"1"
MAX_ATTEMPTS = 3  # verify-and-store rounds when the source changes meanwhile


@dataclass(frozen=True, slots=True)
class IntakeConfig:
    max_body_bytes: int = 1024 * 1024
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    source_ttl: float = 2.0  # seconds a token lookup is reused (the write re-checks it)
    cached_tokens: int = 4096


class _Disconnected(Exception):
    pass


class _Answer(Exception):
    """An answer decided before anything is stored (404, 405, 413, 503)."""

    def __init__(self, status: int, code: str, detail: str, *extra: tuple[bytes, bytes]):
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


class SourceLookup:
    """Token hash -> source (or None), reused for ``ttl`` seconds, bounded."""

    def __init__(self, store: Store, ttl: float, size: int) -> None:
        self._store, self._ttl, self._size = store, ttl, size
        self._found: OrderedDict[str, tuple[float, Source | None]] = OrderedDict()

    async def get(self, hashed: str) -> Source | None:
        hit = self._found.get(hashed)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        source = await self._store.source_by_token(hashed)
        self._found[hashed] = (now + self._ttl, source)
        self._found.move_to_end(hashed)
        while len(self._found) > self._size:
            self._found.popitem(last=False)
        return source

    def forget(self, hashed: str) -> None:
        self._found.pop(hashed, None)


class IntakeApp:
    """Serves ``/in/...``; every other path goes on to ``app`` (the API)."""

    def __init__(
        self, app: ASGIApp, store: Store, config: IntakeConfig, metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.store = store
        self.config = config
        self.sources = SourceLookup(store, config.source_ttl, config.cached_tokens)
        self.configs = ConfigCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(INTAKE_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            status, body, headers = await self._handle(scope, receive)
        except _Answer as answer:
            payload = orjson.dumps({"code": answer.code, "detail": answer.detail})
            status, body, headers = answer.status, payload, [(b"content-type", _JSON)]
            headers.extend(answer.extra)
        except _Disconnected:
            return  # nobody left to answer; nothing was stored
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        if scope["method"] != "POST":
            raise _Answer(405, "method_not_allowed", "only POST", (b"allow", b"POST"))
        match = _TOKEN.match(scope["path"])
        hashed = token_hash(match.group(1)) if match else ""
        source = await self._source(hashed) if match else None
        if source is None:
            raise _Answer(404, "not_found", "no source at this address")
        headers = header_map(scope["headers"])
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_body_bytes:
            raise _too_large(self.config.max_body_bytes)
        body = await _read_body(receive, self.config.max_body_bytes)
        received_at = int(time.time() * 1000)
        client = scope.get("client")
        if not self.config.trusted_proxies.trusts(client[0] if client else None):
            for name in FORWARDED:  # not ours to believe, so not kept either
                headers.pop(name, None)
        if "host" not in headers and scope.get("server"):
            host, port = scope["server"]
            headers["host"] = f"{host}:{port}"
        query = scope.get("query_string", b"").decode("latin-1")
        url = signed_url(headers, scope["path"], query, scope.get("scheme", "http"))
        raw = ReceivedRequest(method="POST", url=url, headers=headers, body=body)
        for _ in range(MAX_ATTEMPTS):
            request, event = self._judge(source, raw, headers, received_at, query)
            try:
                stored = await self.store.intake(
                    request, received_at, source.version, credential_headers(source)
                )
            except VersionConflict:  # the source changed after we read it: read it again
                self.sources.forget(hashed)
                source = await self._source(hashed)
                if source is None:
                    raise _Answer(404, "not_found", "no source at this address") from None
                continue
            except NotFound:
                self.sources.forget(hashed)
                raise _Answer(404, "not_found", "no source at this address") from None
            except (StoreError, Conflict) as exc:  # Conflict: an id collision, say
                log.error("intake could not store a request: %s", exc)
                raise _unavailable() from exc
            if self.metrics is not None:
                self.metrics.record_inbound(source.provider, stored.verdict.value)
            return _answer(stored, event)
        raise _unavailable()

    async def _source(self, hashed: str) -> Source | None:
        try:
            return await self.sources.get(hashed)
        except StoreError as exc:
            log.error("intake could not look up a source: %s", exc)
            raise _unavailable() from exc

    def _judge(
        self,
        source: Source,
        raw: ReceivedRequest,
        headers: dict[str, str],
        received_at: int,
        query: str,
    ) -> tuple[InboundRequest, VerifiedEvent | None]:
        request = InboundRequest(
            id=ids.new_id("req", received_at),
            source_id=source.id,
            method=raw.method,
            path=INTAKE_PREFIX + TOKEN_PLACEHOLDER,
            query=query,
            headers=headers,
            body=raw.body,
            verdict=Verdict.REJECTED,
            status_code=401,
            received_at=received_at,
        )
        try:
            event = verify(self.configs.get(source), raw)
        except VerificationError as exc:
            request.reason = exc.reason
            return request, None
        except ConfigError as exc:
            log.error("source %s has a config that does not parse: %s", source.id, exc)
            request.reason = "source_misconfigured"
            return request, None
        except Exception:  # a verifier bug: keep the request, so it can be replayed later
            log.exception("verifying a request to source %s failed", source.id)
            request.reason = "verifier_error"
            return request, None
        request.status_code = 200
        request.event_type = event.event_type
        if event.challenge is not None:
            request.verdict = Verdict.CHALLENGE
        else:
            request.verdict = Verdict.ACCEPTED
            request.dedup_key = event.dedup_key or body_key(raw.body)
        return request, event


def body_key(body: bytes) -> str:
    """The dedup key of a request whose provider sends no delivery id."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _answer(
    stored: InboundRequest, event: VerifiedEvent | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    if stored.verdict is Verdict.REJECTED:
        detail = f"the request did not verify ({stored.reason})"
        body = orjson.dumps({"code": "verification_failed", "detail": detail})
        return 401, body, [(b"content-type", _JSON)]
    if stored.verdict is Verdict.CHALLENGE and event is not None and event.challenge is not None:
        kind = event.content_type or _guess_type(event.challenge)
        return 200, event.challenge, [(b"content-type", kind.encode("latin-1"))]
    body = orjson.dumps({"id": stored.id, "status": stored.verdict.value})
    return 200, body, [(b"content-type", _JSON)]


def _guess_type(body: bytes) -> str:
    return "application/json" if body.lstrip()[:1] == b"{" else "text/plain"


def _too_large(limit: int) -> _Answer:
    # The connection stays open: the server reads and drops the rest of the body (within
    # its body deadline), so the client gets to read this answer instead of a reset.
    return _Answer(413, "payload_too_large", f"the body is over {limit} bytes")


def _unavailable() -> _Answer:
    return _Answer(
        503,
        "store_unavailable",
        "storage is unavailable, retry later",
        (b"retry-after", RETRY_AFTER_S),
    )


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or a 413 as soon as it passes ``limit`` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
