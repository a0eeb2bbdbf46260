"""The consumer portal's shell: signing in with a magic link, signing out, and the
SaaS's colours.

The link's secret is in the URL's fragment, which the browser never sends: the login
page's script reads it, removes it from the address bar and posts it here once. The
link works once; the session it starts has the grant's application, capabilities,
read-only flag, sessionId and expiry."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from hookline.access import Scope, parse_capabilities, token_hash
from hookline.models import AccessKind
from hookline.ui.render import render
from hookline.ui.session import (
    PORTAL_COOKIE,
    Forbidden,
    check_csrf,
    config_of,
    customer,
    end_session,
    now_ms,
    read_form,
    redirect,
    start_session,
)
from hookline.ui.theme import theme_css
from hookline.ui.viewer import Viewer

router = APIRouter()
MAX_KEY_BYTES = 512
LINK_REFUSED = "This link was already used or has expired."


@router.get("/login")
async def login_page(request: Request, signed_out: bool = False) -> Response:
    """Has no data of its own: ``static/portal-login.js`` does the sign-in."""
    return render(request, "portal_login.html", None, title="Signing in", signed_out=signed_out)


@router.post("/session")
async def redeem(request: Request) -> Response:
    """Redeems a magic link (once) and starts the portal session.

    JSON only, and from this server's own pages: a cross-site form can send neither
    ``application/json`` nor this origin (a login CSRF would sign the victim in to the
    attacker's portal)."""
    if not _same_origin(request):
        raise Forbidden("sign-in requests must come from this server's own page")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _refused(415, "unsupported_media_type", "send the key as JSON")
    raw = await request.body()
    if len(raw) > MAX_KEY_BYTES:
        return _refused(400, "bad_request", "the key is too long")
    try:
        body = json.loads(raw)
    except ValueError:
        return _refused(400, "invalid_json", "the request body is not valid JSON")
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        return _refused(400, "bad_request", "no key was given")
    config = config_of(request)
    row = await config.store.redeem_access_token(token_hash(key), AccessKind.PORTAL_LINK, now_ms())
    if row is None or row.app_id is None:
        return _refused(401, "link_refused", LINK_REFUSED)
    response = JSONResponse({"redirect": "/portal/"})
    await start_session(
        config,
        response,
        cookie=PORTAL_COOKIE,
        scope=Scope(row.app_id, parse_capabilities(row.capabilities), row.read_only),
        expires_at=row.expires_at,
        grant_id=row.grant_id,
        label=row.label,
    )
    return response


@router.post("/logout")
async def logout(request: Request, viewer: Annotated[Viewer, Depends(customer)]) -> Response:
    check_csrf(viewer, (await read_form(request)).get("csrf_token"))
    response = redirect("/portal/login?signed_out=true")
    await end_session(request, PORTAL_COOKIE, response)
    return response


@router.get("/theme.css")
async def theme(request: Request) -> Response:
    css = theme_css(config_of(request).branding.primary_color)
    return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache"})


def _refused(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail}, status_code=status)


def _same_origin(request: Request) -> bool:
    """The browser's own word on where the request came from: ``Sec-Fetch-Site`` when it
    sends it, else ``Origin`` against this server's (public or requested) origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return site == "same-origin"
    public = urlsplit(config_of(request).public_url)
    own = {f"{public.scheme}://{public.netloc}", f"{request.url.scheme}://{request.url.netloc}"}
    return origin in own
