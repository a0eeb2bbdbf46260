"""The bearer-token gate, in front of everything that reads a body or writes a row.

A dependency on each router ran only after FastAPI had parsed the body, and after the
Idempotency-Key middleware had reserved (and stored) its key: a client without a token
could fill the key table. As ASGI middleware the check comes first, answers 401 before
the body is read, and is the only token check there is.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from hookline.api.context import ApiContext, check_token
from hookline.api.errors import api_error_response
from hookline.errors import Unauthorized

PROTECTED_PREFIXES = ("/api/", "/ingest/api/")


class TokenGate:
    """Every request under ``/api/`` and ``/ingest/api/`` needs the token, except the
    ``public`` paths (health checks). The docs outside them stay public: they reveal no
    data. (Sources receive at ``/in/{token}``, outside the API, where the token is the
    credential.)"""

    def __init__(self, app: ASGIApp, context: ApiContext, public: Iterable[str] = ()) -> None:
        self.app = app
        self.context = context
        self.public = frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith(PROTECTED_PREFIXES)
            and path not in self.public
        ):
            header = _header(scope, b"authorization").decode("latin-1")
            try:
                check_token(self.context, header)
            except Unauthorized as exc:
                await api_error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""
