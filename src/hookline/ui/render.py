"""Templates and the headers every page carries.

No inline script or style runs (the Content-Security-Policy says so): page data reaches
the scripts as ``<script type="application/json">`` blocks, and the portal's colour
comes from a stylesheet route."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hookline.ui.config import UiConfig
from hookline.ui.viewer import Viewer

PACKAGE_DIR = Path(str(resources.files("hookline.ui")))
STATIC_DIR = PACKAGE_DIR / "static"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    return env


def when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ms: int | None, now_ms: int | None = None) -> str:
    if ms is None:
        return "—"
    now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    seconds = max(0, (now - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def content_security_policy(config: UiConfig, framed_by: tuple[str, ...]) -> str:
    images = "'self' data:"
    if config.branding.logo_url:
        parts = urlsplit(config.branding.logo_url)
        if parts.scheme in ("http", "https") and parts.netloc:
            images += f" {parts.scheme}://{parts.netloc}"
    ancestors = " ".join(framed_by) if framed_by else "'none'"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"object-src 'none'; frame-ancestors {ancestors}"
    )


def security_headers(config: UiConfig, framed_by: tuple[str, ...]) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(config, framed_by),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def render(
    request: Request,
    name: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    env: Environment = request.app.state.templates
    config: UiConfig = request.app.state.ui_config
    html = env.get_template(name).render(
        viewer=viewer,
        branding=config.branding,
        base=viewer.base if viewer is not None else request.app.state.base,
        static="/ui/static",
        request=request,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
