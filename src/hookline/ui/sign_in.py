"""The operator's sign-in and sign-out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hookline.access import ADMIN, same_secret
from hookline.ui.render import render
from hookline.ui.session import (
    LOGIN_CSRF_COOKIE,
    OPERATOR_COOKIE,
    Forbidden,
    check_csrf,
    config_of,
    end_session,
    now_ms,
    operator,
    read_form,
    redirect,
    start_session,
    viewer_from_cookie,
)
from hookline.ui.viewer import Viewer

router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only a path on this dashboard: never an open redirect."""
    if (
        value
        and value.startswith("/ui")
        and not value.startswith(("//", "/ui/login", "/ui/logout"))
    ):
        return value
    return "/ui/"


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await viewer_from_cookie(request, OPERATOR_COOKIE, "/ui") is not None:
        return redirect(safe_next(next))
    return _login_form(request, next, error=None, status_code=200)


def _login_form(
    request: Request, next: str | None, error: str | None, status_code: int
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        csrf=token,
        next=safe_next(next),
        error=error,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/ui/login",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same_secret(form.get("csrf_token", ""), expected):
        raise Forbidden("the sign-in form expired or came from another site")
    config = config_of(request)
    if not same_secret(form.get("token", "").strip(), config.admin_token):
        return _login_form(request, form.get("next"), "That token is not valid.", 401)
    response = redirect(safe_next(form.get("next")))
    await start_session(
        config,
        response,
        cookie=OPERATOR_COOKIE,
        scope=ADMIN,
        expires_at=now_ms() + int(config.session_ttl_s * 1000),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
async def logout(request: Request, viewer: Annotated[Viewer, Depends(operator)]) -> Response:
    check_csrf(viewer, (await read_form(request)).get("csrf_token"))
    response = redirect("/ui/login")
    await end_session(request, OPERATOR_COOKIE, response)
    return response
