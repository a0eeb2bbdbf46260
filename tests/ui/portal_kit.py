"""Helpers of the consumer-portal page tests: the real API with the pages mounted, on a
real store (SQLite and PostgreSQL), magic links granted through the API, and sessions
started by redeeming them. (Imported as ``portal_kit``; not a conftest.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hookline import runtime
from hookline.access import csrf_token
from hookline.api import ApiContext, create_app
from hookline.config import Settings
from hookline.store.base import Store
from hookline.ui import Branding, UiConfig, mount_ui

TOKEN = "test-token-0123456789abcdef"
SITE = "https://hookline.test"
EMBEDDER = "https://saas.example"
SAME = {"Origin": SITE}
REFUSED = "This link was already used or has expired."


@asynccontextmanager
async def opened_store(tmp_path: Path, database_url: str | None) -> AsyncIterator[Store]:
    settings = Settings(data_dir=tmp_path, api_token=TOKEN, database_url=database_url)
    opened = runtime.open_store(settings, migrated=database_url is not None)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _app(store: Store, color: str = "#4f46e5") -> Any:
    app = create_app(ApiContext(store=store, admin_token=TOKEN, public_url=SITE))
    config = UiConfig(
        store=store,
        admin_token=TOKEN,
        public_url=SITE,
        frame_ancestors=(EMBEDDER,),
        branding=Branding(primary_color=color),
    )
    mount_ui(app, config)
    return app


def _client(app: Any, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SITE, headers=headers)


async def _grant(admin: httpx.AsyncClient, app: str = "alpha", **body: Any) -> str:
    """The magic link's key."""
    if (await admin.get(f"/api/v1/app/{app}")).status_code == 404:
        assert (await admin.post("/api/v1/app", json={"name": app, "uid": app})).is_success
    resp = await admin.post(f"/api/v1/auth/app-portal-access/{app}", json=body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["url"].split("#key=", 1)[1])


async def _redeem(browser: httpx.AsyncClient, key: str) -> httpx.Response:
    return await browser.post("/portal/session", json={"key": key}, headers=SAME)


async def _csrf(browser: httpx.AsyncClient) -> str:
    """The CSRF token the portal's pages embed (derived from the session cookie)."""
    return csrf_token(browser.cookies["hookline_portal"])
