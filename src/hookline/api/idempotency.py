"""``Idempotency-Key`` for every POST: a repeated key replays the first response.

Pure ASGI middleware so it covers every route without each one opting in. The key is
reserved before the request runs, so concurrent repeats wait for the first answer
instead of running twice. Responses below 500 are kept for 24 hours, then retention
deletes them; a 5xx (or a 401) is forgotten, so the client can retry. It runs behind
the token gate, so only an authenticated client can make it store anything.

Publish is the exception: it passes the same hashed key (``idempotency_key``) to
``Store.publish``, which looks it up and stores it in the publish transaction, so a
publish is one write and a crash between writes cannot publish twice. Its key keeps a
reference to the message, not the answer (which holds the payload); a replay renders the
message as it is then, an expired payload as ``{}`` exactly as GET shows it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.store.base import Store, StoredResponse

IN_FLIGHT_WAIT_S = 15.0
PUBLISH_PATH = re.compile(r"^/api/v1/app/[^/]+/msg$")  # keyed in the publish transaction


def idempotency_key(scope: Scope) -> str | None:
    """The request's Idempotency-Key, scoped to its credentials, path and query."""
    headers = dict(scope["headers"])
    raw_key = headers.get(b"idempotency-key")
    if not raw_key:
        return None
    # a page's call has no Authorization header: its session (hashed by the token gate)
    # is the credential, so an operator's and a customer's keys never meet
    auth = (
        headers.get(b"authorization")
        or str(scope.get("state", {}).get("credential_hash", "")).encode()
    )
    return hashlib.sha256(
        b"\0".join((auth, scope["path"].encode(), scope.get("query_string", b""), raw_key))
    ).hexdigest()


def replayed_response(stored: StoredResponse) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type="application/json",
        headers={"idempotent-replayed": "true"},
    )


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or PUBLISH_PATH.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        key = idempotency_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        now = int(time.time() * 1000)
        stored = await self.store.begin_idempotent(key, now)
        if stored is not None:
            await replayed_response(await self._settled(key, stored))(scope, receive, send)
            return
        status = 0
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            if 200 <= status < 500 and status != 401:
                response = StoredResponse(status=status, body=b"".join(chunks))
                await self.store.save_idempotent_response(key, response, now)
            else:
                await self.store.forget_idempotent(key)

    async def _settled(self, key: str, stored: StoredResponse) -> StoredResponse:
        """A repeat that arrives while the first request runs waits for its answer."""
        deadline = time.monotonic() + IN_FLIGHT_WAIT_S
        while stored.status == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            found = await self.store.get_idempotent_response(key, int(time.time() * 1000))
            if found is None:
                break
            stored = found
        if stored.status == 0:
            body = (
                b'{"code":"conflict","detail":"a request with this Idempotency-Key is in progress"}'
            )
            return StoredResponse(status=409, body=body)
        return stored
