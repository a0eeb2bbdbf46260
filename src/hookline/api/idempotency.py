"""``Idempotency-Key`` for every POST: a repeated key replays the first response.

Pure ASGI middleware so it covers every route without each one opting in. The key is
reserved before the request runs, so concurrent repeats wait for the first answer
instead of running twice. Responses below 500 are kept for 24 hours, then retention
deletes them; a 5xx (or a 401) is forgotten, so the client can retry. It runs behind
the token gate, so only an authenticated client can make it store anything.

A publish keeps no copy of its answer, which holds the payload: the route leaves a
reference to the message (``replay_from_message``) and a replay renders the message as
it is then, an expired payload as ``{}`` exactly as GET shows it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookline.api.errors import api_error_response, store_error_response
from hookline.errors import ApiError, StoreError
from hookline.store.base import MessageRef, Store, StoredResponse

IN_FLIGHT_WAIT_S = 15.0
_MESSAGE_REF = "hookline.idempotency.message"

ReplayMessage = Callable[[MessageRef], Awaitable[bytes]]


def replay_from_message(scope: Scope, app_id: str, msg_id: str, with_content: bool) -> None:
    """Called by publish once the message is stored: keep a reference, not the answer."""
    scope.setdefault("state", {})[_MESSAGE_REF] = MessageRef(app_id, msg_id, with_content)


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, store: Store, replay_message: ReplayMessage) -> None:
        self.app = app
        self.store = store
        self.replay_message = replay_message

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
        stored = await self.store.begin_idempotent(key, now)
        if stored is not None:
            await _replay(await self._rendered(await self._settled(key, stored)), send)
            return
        state = scope.setdefault("state", {})  # shared with the route, even if scope is copied
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
                ref = state.get(_MESSAGE_REF)
                if isinstance(ref, MessageRef):
                    response = StoredResponse(status=status, message=ref)
                else:
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

    async def _rendered(self, stored: StoredResponse) -> StoredResponse:
        if stored.message is None:
            return stored
        try:
            body = await self.replay_message(stored.message)
        except ApiError as exc:  # the message (or its application) was deleted since
            error = api_error_response(exc)
        except StoreError as exc:
            error = store_error_response(exc)
        else:
            return StoredResponse(status=stored.status, body=body)
        return StoredResponse(status=error.status_code, body=bytes(error.body))


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
