"""Browser sessions: the operator signs in with the admin token; a portal customer gets
one from a magic link. Both are ``AccessToken`` rows found by the cookie's hash.

Every form and every API call a page makes carries the session's CSRF token (a form
field or the ``X-CSRF-Token`` header); a cross-site form cannot know it."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from hookline.access import (
    ADMIN,
    Scope,
    csrf_token,
    new_token,
    parse_capabilities,
    same_secret,
    token_hash,
)
from hookline.ids import new_id
from hookline.models import AccessKind, AccessToken
from hookline.ui.config import UiConfig
from hookline.ui.viewer import Viewer

OPERATOR_COOKIE = "hookline_session"
PORTAL_COOKIE = "hookline_portal"
LOGIN_CSRF_COOKIE = "hookline_login_csrf"
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """No live session for this page: the operator goes to the sign-in page."""


class Forbidden(Exception):
    """A session that may not do this (or a request without its CSRF token)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def config_of(request: Request) -> UiConfig:
    config: UiConfig = request.app.state.ui_config
    return config


async def viewer_from_cookie(request: Request, cookie: str, base: str) -> Viewer | None:
    token = request.cookies.get(cookie)
    if not token:
        return None
    row = await config_of(request).store.find_access_token(
        token_hash(token), AccessKind.SESSION, now_ms()
    )
    if row is None:
        return None
    scope = (
        ADMIN
        if row.app_id is None
        else Scope(row.app_id, parse_capabilities(row.capabilities), row.read_only)
    )
    if (base == "/ui") != scope.is_admin:
        return None
    return Viewer(scope, csrf_token(token), base, row.token_hash, row.expires_at)


async def operator(request: Request) -> Viewer:
    viewer = await viewer_from_cookie(request, OPERATOR_COOKIE, "/ui")
    if viewer is None:
        raise SignInRequired
    return viewer


async def customer(request: Request) -> Viewer:
    viewer = await viewer_from_cookie(request, PORTAL_COOKIE, "/portal")
    if viewer is None:
        raise SignInRequired
    return viewer


async def read_form(request: Request) -> dict[str, str]:
    """URL-encoded forms only (the pages send nothing else); the last value wins."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise Forbidden("form too large")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


def check_csrf(viewer: Viewer, given: str | None) -> None:
    if not given or not same_secret(given, viewer.csrf):
        raise Forbidden("missing or wrong CSRF token")


async def start_session(
    config: UiConfig,
    response: Response,
    *,
    cookie: str,
    scope: Scope,
    expires_at: int,
    grant_id: str | None = None,
    label: str | None = None,
) -> None:
    token = new_token("sess")
    now = now_ms()
    await config.store.create_access_tokens(
        [
            AccessToken(
                id=new_id("sess", now),
                kind=AccessKind.SESSION,
                token_hash=token_hash(token),
                app_id=scope.app_id,
                capabilities=sorted(c.value for c in scope.capabilities),
                read_only=scope.read_only,
                created_at=now,
                expires_at=expires_at,
                grant_id=grant_id,
                label=label,
            )
        ]
    )
    set_session_cookie(config, response, cookie, token, expires_at)


def set_session_cookie(
    config: UiConfig, response: Response, cookie: str, token: str, expires_at: int
) -> None:
    max_age = max(0, (expires_at - now_ms()) // 1000)
    if cookie == PORTAL_COOKIE and config.secure_cookies:
        # an embedded portal is a third-party frame: its cookie must be sent there, and is
        # kept apart per embedding site (CHIPS)
        response.set_cookie(
            cookie, token, max_age=max_age, path="/", httponly=True, secure=True,
            samesite="none",
        )  # fmt: skip
        _partitioned(response, cookie)
    else:
        response.set_cookie(
            cookie, token, max_age=max_age, path="/", httponly=True,
            secure=config.public_url.startswith("https://"), samesite="lax",
        )  # fmt: skip


def _partitioned(response: Response, cookie: str) -> None:
    """Adds ``Partitioned`` to the cookie just set: Python's ``http.cookies`` knows the
    attribute only from 3.14 on (Starlette refuses it before)."""
    prefix = f"{cookie}=".encode()
    for n in range(len(response.raw_headers) - 1, -1, -1):
        name, value = response.raw_headers[n]
        if name == b"set-cookie" and value.startswith(prefix):
            response.raw_headers[n] = (name, value + b"; Partitioned")
            return


async def end_session(request: Request, cookie: str, response: Response) -> None:
    token = request.cookies.get(cookie)
    if token:
        await config_of(request).store.delete_access_token(token_hash(token))
    if cookie == PORTAL_COOKIE and config_of(request).secure_cookies:
        # a partitioned cookie is only removed by a removal with the same attributes
        response.delete_cookie(cookie, path="/", secure=True, httponly=True, samesite="none")
        _partitioned(response, cookie)
    else:
        response.delete_cookie(cookie, path="/")


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)
