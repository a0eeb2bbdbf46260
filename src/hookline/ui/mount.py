"""The dashboard (``/ui``) and the consumer portal (``/portal``): two sub-applications
of the API's server, with their own error pages and security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hookline.errors import ApiError, StoreError
from hookline.ui import (
    pages_apps,
    pages_catalogue,
    pages_endpoints,
    pages_live,
    pages_messages,
    pages_overview,
    pages_portal,
    pages_sources,
    sign_in,
)
from hookline.ui.config import UiConfig
from hookline.ui.render import STATIC_DIR, environment, render, security_headers
from hookline.ui.session import Forbidden, SignInRequired

# Each page module's router; a new page module adds itself here.
OPERATOR_ROUTERS: tuple[APIRouter, ...] = (
    sign_in.router,
    pages_overview.router,
    pages_apps.router,
    pages_endpoints.router,
    pages_messages.router,
    pages_catalogue.router,
    pages_sources.router,
    pages_live.router,
)
PORTAL_ROUTERS: tuple[APIRouter, ...] = (
    pages_portal.router,
    pages_apps.portal_router,
    pages_endpoints.portal_router,
    pages_messages.portal_router,
    pages_catalogue.portal_router,
)


def mount_ui(app: FastAPI, config: UiConfig) -> None:
    operator = _sub_app(config, "/ui", OPERATOR_ROUTERS, framed_by=())
    operator.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    portal = _sub_app(config, "/portal", PORTAL_ROUTERS, framed_by=config.frame_ancestors)
    app.mount("/ui", operator)
    app.mount("/portal", portal)

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)


def _sub_app(
    config: UiConfig, base: str, routers: Sequence[APIRouter], framed_by: tuple[str, ...]
) -> FastAPI:
    sub = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    sub.state.ui_config = config
    sub.state.templates = environment()
    sub.state.base = base
    for router in routers:
        sub.include_router(router)
    headers = security_headers(config, framed_by)

    @sub.middleware("http")
    async def add_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        if base == "/ui":
            target = quote(
                f"/ui{request.url.path}"
                if not request.url.path.startswith("/ui")
                else request.url.path,
                safe="/",
            )
            return RedirectResponse(f"/ui/login?next={target}", status_code=303)
        return _error(
            request,
            401,
            "Your session has ended",
            "Open the portal again from the application that sent you here.",
        )

    async def forbidden(request: Request, exc: Exception) -> Response:
        return _error(request, 403, "Not allowed", str(exc) or "You may not do this.")

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(
            request,
            exc.status,
            "Not found" if exc.status == 404 else "Cannot do that",
            str(exc.detail),
        )

    async def store_error(request: Request, exc: Exception) -> Response:
        response = _error(request, 503, "The database is not answering", "Try again in a moment.")
        response.headers["Retry-After"] = "1"
        return response

    async def bad_request(request: Request, exc: Exception) -> Response:
        return _error(request, 400, "Bad request", "A field of this page's address is not valid.")

    sub.add_exception_handler(SignInRequired, sign_in_required)
    sub.add_exception_handler(Forbidden, forbidden)
    sub.add_exception_handler(ApiError, api_error)
    sub.add_exception_handler(StoreError, store_error)
    sub.add_exception_handler(RequestValidationError, bad_request)
    return sub


def _error(request: Request, status: int, title: str, detail: str) -> Response:
    return render(request, "error.html", None, status_code=status, title=title, detail=detail)
