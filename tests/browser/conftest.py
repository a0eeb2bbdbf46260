"""Browser tests: Playwright driving the system's Chromium against a real ``hookline serve``.

One Chromium per test session (Debian's ``chromium``; Playwright never downloads one), a
fresh context per test. Without Chromium these tests skip with one message; with
``CI=true`` they fail instead, as the PostgreSQL tests do. Every test runs on the
session's event loop, where the browser lives; every page is watched (``Guard``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from browser_kit import Guard, Site, load_e2e_kit
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from hookline.testing import Receiver

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
HERE = Path(__file__).parent
E2E = load_e2e_kit()
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000  # a shared 2-core machine; every wait is for something that will come
expect.set_options(timeout=TIMEOUT_MS)
LAUNCH_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium (tests/browser)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser lives on the session's loop, so every browser test runs there too."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


def chromium_path() -> str:
    path = os.environ.get("HOOKLINE_CHROMIUM") or shutil.which("chromium")
    path = path or shutil.which("chromium-browser")
    if path:
        return path
    reason = "Chromium not found (install Debian's chromium, or set HOOKLINE_CHROMIUM)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    args = LAUNCH_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, args=args, headless=True)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
def embedder() -> Iterator[Site]:
    """The SaaS's own site: the one origin allowed to frame the portal."""
    site = Site().start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def stranger() -> Iterator[Site]:
    """Another site: may not frame the portal; its forms post cross-site (CSRF)."""
    site = Site().start()
    yield site
    site.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Site) -> Iterator[Any]:
    """One real ``hookline serve`` (SQLite, --dev for loopback receivers) for the session;
    each test makes applications of its own."""
    servers = E2E._Servers(tmp_path_factory.mktemp("browser-server"))
    try:
        yield servers.start(
            env_overrides={
                "HOOKLINE_PORTAL_FRAME_ANCESTORS": embedder.base_url,
                "HOOKLINE_PORTAL_NAME": "Acme Webhooks",
            }
        )
    finally:
        servers.stop_all()


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rx:
        yield rx


@pytest_asyncio.fixture(loop_scope="session")
async def api(server: Any) -> AsyncIterator[Any]:
    async with server.api() as client:
        yield client


@pytest.fixture
def guard(server: Any, embedder: Site, stranger: Site) -> Guard:
    from browser_kit import origin

    # the test's own sites, by name (another site) and by address (the server's site)
    sites = {embedder.base_url, stranger.base_url, f"http://127.0.0.1:{stranger.port}"}
    return Guard({origin(server.base_url), *sites})


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser, guard: Guard) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport=VIEWPORT, color_scheme="light")  # type: ignore[arg-type]
    ctx.set_default_timeout(TIMEOUT_MS)
    await guard.attach(ctx)
    try:
        yield ctx
    finally:
        await ctx.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A page's console error, exception or request to another host fails its test."""
    result = yield
    guard = getattr(item, "funcargs", {}).get("guard")
    if isinstance(guard, Guard):
        guard.check()
    return result
