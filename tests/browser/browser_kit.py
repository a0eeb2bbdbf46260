"""What the browser tests share: the watch every page is under, the other sites a test
serves on loopback, sign-in, and where screenshots go.

Every page of every test is watched: a console error, an uncaught exception, or a request
to any origin but the server's (and the test's own sites) fails the test. Requests to
other hosts are aborted before they leave, so a page that needs a CDN breaks here."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, ConsoleMessage, Error, Page, Request, Route

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = ("overview", "endpoint", "message", "portal-light", "portal-dark")


def load_e2e_kit() -> ModuleType:
    """The end-to-end suite's server starter and API client, reused as they are (the
    folders are not packages, so load the module by its path)."""
    path = REPO / "tests" / "e2e" / "conftest.py"
    spec = importlib.util.spec_from_file_location("hookline_e2e_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def screenshot_dir() -> Path:
    """``HOOKLINE_SCREENSHOT_DIR`` (``make screenshots``: docs/screenshots), else the
    git-ignored build/screenshots, so a test run never changes tracked files."""
    folder = Path(os.environ.get("HOOKLINE_SCREENSHOT_DIR") or REPO / "build" / "screenshots")
    if not folder.is_absolute():
        folder = REPO / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, name: str) -> Path:
    assert name in SCREENSHOTS, name
    path = screenshot_dir() / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Guard:
    """The watch on one browser context; ``problems`` must be empty when the test ends."""

    allowed_origins: set[str]
    problems: list[str] = field(default_factory=list)
    _expected: list[re.Pattern[str]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    async def attach(self, context: BrowserContext) -> None:
        await context.route(lambda url: origin(url) not in self.allowed_origins, self._abort)
        context.on("page", self.watch)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    @contextmanager
    def expecting(self, *patterns: str) -> Iterator[None]:
        """Console errors matching ``patterns`` are expected inside the block (a refused
        page logs its 4xx, a blocked frame logs the CSP violation)."""
        compiled = [re.compile(p) for p in patterns]
        self._expected.extend(compiled)
        try:
            yield
        finally:
            for p in compiled:
                self._expected.remove(p)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        where = message.location.get("url", "")
        if any(p.search(text) for p in self._expected) or where.endswith("/favicon.ico"):
            return  # the browser's own favicon probe is no page's doing
        self.problems.append(f"console error at {where}: {text}")

    async def _abort(self, route: Route, request: Request) -> None:
        self.blocked.append(request.url)
        self.problems.append(f"request to another host: {request.method} {request.url}")
        try:
            await route.abort("blockedbyclient")
        except Error:  # the page went away meanwhile
            pass

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


class Site:
    """A tiny web site of the test's own on ``http://localhost:PORT`` (another site than
    the server's ``127.0.0.1``): pages an embedding SaaS or an attacker would serve."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                body = site.pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> Site:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(base_url + "/ui/login")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(base_url + "/ui/")


async def session_cookie(context: BrowserContext, name: str = "hookline_session") -> str:
    for cookie in await context.cookies():
        if cookie.get("name") == name:
            return str(cookie.get("value"))
    raise AssertionError(f"no {name} cookie")


async def page_api(page: Page, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A call from the page's own context with its session (``hl.api``'s headers), for
    checking what the API answers a session; returns ``{status, body}``."""
    result: dict[str, Any] = await page.evaluate(
        """async ([method, path, body]) => {
            const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
            const init = {method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
            if (body !== null) {
                init.headers["Content-Type"] = "application/json";
                init.body = JSON.stringify(body);
            }
            const res = await fetch(path, init);
            const text = await res.text();
            let parsed = null;
            try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
            return {status: res.status, body: parsed};
        }""",
        [method, path, body],
    )
    return result


CONTRAST_JS = """(selectors) => {
    const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
        const f = (c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
        for (; el; el = el.parentElement) {
            const c = rgb(getComputedStyle(el).backgroundColor);
            if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const out = [];
    for (const sel of selectors) {
        for (const el of document.querySelectorAll(sel)) {
            if (!el.offsetParent && el.tagName !== "BODY") continue;  // not shown
            const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            out.push([sel + " " + (el.textContent || "").trim().slice(0, 30), ratio]);
        }
    }
    return out;
}"""


async def low_contrast(page: Page, selectors: list[str], least: float = 4.5) -> list[str]:
    """Text whose colour on its background is below WCAG AA's ratio, in the page's
    current theme."""
    found: list[list[Any]] = await page.evaluate(CONTRAST_JS, selectors)
    return [f"{what}: {ratio:.2f}" for what, ratio in found if ratio < least]
