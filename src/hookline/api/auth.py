"""The credential gate, in front of everything that reads a body or writes a row.

A dependency on each router ran only after FastAPI had parsed the body, and after the
Idempotency-Key middleware had reserved (and stored) its key: a client without a token
could fill the key table. As ASGI middleware the check comes first, answers 401 before
the body is read, and is the only credential check there is.

Three credentials open the API: the admin token (``Authorization: Bearer``); a browser
session of the dashboard or the portal (its cookie plus the page's ``X-CSRF-Token``
header, which a cross-site request cannot send); and a consumer-portal token
(``appsk_…``). A credential scoped to one application passes only the routes
``scoped_routes.RULES`` allow, for objects of its own application.

Keys made at ``/api/v1/auth/api-token`` (``hlk_…``) and integration keys (``integsk_…``)
are the fourth: server-wide (as the admin token, except for managing keys) or scoped to
one application (every route under it). Their last use is written at most once a
``touch_interval_s`` per key, so the hot path does not write on every request."""

from __future__ import annotations

import time
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from hookline.access import ADMIN, csrf_token, parse_capabilities, same_secret, token_hash
from hookline.access import Scope as Access
from hookline.api.context import ApiContext, check_token
from hookline.api.errors import api_error_response, error_response, store_error_response
from hookline.api.scoped_routes import (
    APP_KEY_RULES,
    Match,
    app_key_match,
    compile_rules,
    manages_keys,
    match,
)
from hookline.errors import NotFound, StoreError, Unauthorized
from hookline.models import AccessKind, AccessToken

PROTECTED_PREFIXES = ("/api/", "/ingest/api/")
SESSION_COOKIES = ("hookline_session", "hookline_portal")
PORTAL_TOKEN_PREFIX = "appsk_"
API_KEY_PREFIX = "hlk_"
INTEGRATION_KEY_PREFIX = "integsk_"
KEY_PREFIXES = {API_KEY_PREFIX: AccessKind.API_KEY, INTEGRATION_KEY_PREFIX: AccessKind.INTEGRATION}
TOUCH_INTERVAL_S = 60.0


class Forbidden(Unauthorized):
    status = 403
    code = "forbidden"


class TokenGate:
    """Every request under ``/api/`` and ``/ingest/api/`` needs a credential, except the
    ``public`` paths (health checks). The docs outside them stay public: they reveal no
    data. (Sources receive at ``/in/{token}``, outside the API, where the token is the
    credential.) The caller's ``Access`` goes into ``scope["state"]["access"]``, and the
    hash of a stored credential (session or portal token) into ``credential_hash``."""

    def __init__(
        self,
        app: ASGIApp,
        context: ApiContext,
        public: Iterable[str] = (),
        touch_interval_s: float = TOUCH_INTERVAL_S,
    ) -> None:
        self.app = app
        self.context = context
        self.public = frozenset(public)
        self.rules = compile_rules()
        self.key_rules = compile_rules(APP_KEY_RULES)
        self.touch_interval_ms = int(touch_interval_s * 1000)
        self.touched: dict[str, int] = {}  # key id -> when this process last wrote its use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] in ("http", "websocket")  # a socket is refused before its upgrade
            and path.startswith(PROTECTED_PREFIXES)
            and path not in self.public
        ):
            state = scope.setdefault("state", {})
            try:
                access = await self.caller(scope)
                if access.key_id is not None:
                    await self.check_key(access, scope)
                elif not access.is_admin:
                    await self.check_scoped(access, scope)
            except (Unauthorized, NotFound) as exc:
                state.pop("credential_hash", None)
                await api_error_response(exc)(scope, receive, send)
                return
            except StoreError as exc:
                await store_error_response(exc)(scope, receive, send)
                return
            state["access"] = access
        await self.app(scope, receive, send)

    async def caller(self, scope: Scope) -> Access:
        header = _header(scope, b"authorization").decode("latin-1")
        if header:
            try:
                check_token(self.context, header)  # the admin token: the fast path
                return ADMIN
            except Unauthorized:
                scheme, _, token = header.partition(" ")
                token = token.strip()
                if scheme.lower() != "bearer":
                    raise
                kind = KEY_PREFIXES.get(token.partition("_")[0] + "_")
                if kind is not None:
                    return await self.key(token, kind)
                if not token.startswith(PORTAL_TOKEN_PREFIX):
                    raise
            return await self.portal_token(scope, token)
        return await self.session(scope)

    async def key(self, token: str, kind: AccessKind) -> Access:
        """An API or integration key: unexpired and unrevoked, else 401."""
        now = int(time.time() * 1000)
        row = await self.context.store.find_access_token(token_hash(token), kind, now)
        if row is None:
            raise Unauthorized("invalid token")
        last = max(self.touched.get(row.id, 0), row.used_at or 0)
        if now - last >= self.touch_interval_ms:
            self.touched[row.id] = now
            await self.context.store.touch_key(row.id, now)
        return Access(row.app_id, key_id=row.id)

    async def portal_token(self, scope: Scope, token: str) -> Access:
        """A token from ``app-portal-access``: one application, until it expires."""
        hashed = token_hash(token)
        row = await self.context.store.find_access_token(
            hashed, AccessKind.PORTAL_TOKEN, int(time.time() * 1000)
        )
        if row is None or row.app_id is None:
            raise Unauthorized("invalid token")
        scope["state"]["credential_hash"] = hashed
        return _access(row)

    async def session(self, scope: Scope) -> Access:
        """A page's call: its session cookie, and the CSRF token derived from it."""
        given = _header(scope, b"x-csrf-token").decode("latin-1")
        cookies = _cookies(scope)
        for name in SESSION_COOKIES:
            token = cookies.get(name)
            if not token or not given or not same_secret(given, csrf_token(token)):
                continue
            row = await self.context.store.find_access_token(
                token_hash(token), AccessKind.SESSION, int(time.time() * 1000)
            )
            if row is None:
                raise Unauthorized("the session has ended; sign in again")
            scope["state"]["credential_hash"] = row.token_hash
            return _access(row)
        raise Unauthorized("missing bearer token")

    async def check_key(self, access: Access, scope: Scope) -> None:
        """No key manages keys; a server-wide key passes everything else, one scoped to
        an application every route under it (and a few outside it) for its own."""
        if manages_keys(scope["path"]):
            raise Forbidden("keys are managed with the admin token")
        if access.is_admin:
            return
        found = app_key_match(self.key_rules, _method(scope), scope["path"])
        if found is None:
            raise Forbidden("this key is scoped to one application")
        await self.check_owner(access, found)

    async def check_scoped(self, access: Access, scope: Scope) -> None:
        """Application-scoped callers reach only the allowlisted routes their
        capabilities open, and only for objects of their own application (else 404)."""
        found = match(self.rules, _method(scope), scope["path"])
        if found is None:
            raise Forbidden("this credential cannot use this route")
        needed = found.rule.capability
        if needed is not None and not access.allows(needed):
            detail = "this credential is read-only" if access.read_only else None
            raise Forbidden(detail or f"this credential lacks the {needed.value} capability")
        await self.check_owner(access, found)

    async def check_owner(self, access: Access, found: Match) -> None:
        owner = found.rule.owner
        if owner is None:
            return
        ref = found.params[owner]
        if owner == "app_id":
            owner_app = (await self.context.store.get_application(ref)).id
            missing = NotFound(f"application {ref!r} not found")
        else:
            owner_app = (await self.context.store.get_task(ref)).app_id
            missing = NotFound(f"background task {ref!r} not found")
        if not access.sees(owner_app):
            raise missing  # as if it did not exist: the same answer as the store's


def _access(row: AccessToken) -> Access:
    if row.app_id is None:
        return ADMIN
    return Access(row.app_id, parse_capabilities(row.capabilities), row.read_only)


def _method(scope: Scope) -> str:
    """A WebSocket handshake is a GET, and its scope names no method."""
    return str(scope.get("method", "GET"))


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def _cookies(scope: Scope) -> dict[str, str]:
    raw = _header(scope, b"cookie").decode("latin-1")
    if not raw:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


__all__ = ["Forbidden", "TokenGate", "error_response"]
