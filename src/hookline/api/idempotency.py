"""``Idempotency-Key`` for every POST: a repeated key replays the first response.

Pure ASGI middleware so it covers every route without each one opting in. Responses
below 500 are kept for 24 hours; a 5xx is not kept, so the client can retry.
"""

from __future__ import annotations

import hashlib
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.store.base import Store, StoredResponse


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if not raw_key:
            await self.app(scope, receive, send)
            return
        auth = headers.get(b"authorization", b"")
        key = hashlib.sha256(
            b"\0".join((auth, scope["path"].encode(), scope.get("query_string", b""), raw_key))
        ).hexdigest()
        now = int(time.time() * 1000)
        stored = await self.store.get_idempotent_response(key, now)
        if stored is not None:
            await _replay(stored, send)
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

        await self.app(scope, receive, capture)
        if 200 <= status < 500 and status != 401:
            await self.store.save_idempotent_response(
                key, StoredResponse(status=status, body=b"".join(chunks)), now
            )


async def _replay(stored: StoredResponse, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": stored.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(stored.body)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": stored.body})
