"""Helpers of the overview, application and endpoint page tests: the real API and UI on
a real SQLite store, an operator signed in through the sign-in form, portal sessions of
chosen capabilities, traffic made with the store's own verbs, and a small HTML reader.
(Imported as ``dash_kit``; not a conftest.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx
import ui_kit

from hookline.access import csrf_token
from hookline.api import ApiContext, create_app
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.models import (
    Application,
    Endpoint,
)
from hookline.runtime import open_store
from hookline.store.base import Store
from hookline.testing.results import final_result
from hookline.ui import UiConfig, mount_ui
from hookline.ui.session import PORTAL_COOKIE

TOKEN, BASE = ui_kit.TOKEN, ui_kit.BASE


@dataclass
class Site:
    store: Store
    app: object  # the ASGI app: API with /ui and /portal mounted

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),  # type: ignore[arg-type]
            base_url=BASE,
            headers=headers,
        )

    def api(self) -> httpx.AsyncClient:
        return self.client(Authorization=f"Bearer {TOKEN}")


@asynccontextmanager
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = open_store(Settings(data_dir=tmp_path, api_token=TOKEN))
    await store.open()
    try:
        app = create_app(ApiContext(store=store, admin_token=TOKEN))
        mount_ui(app, UiConfig(store=store, admin_token=TOKEN))
        yield Site(store, app)
    finally:
        await store.close()


async def sign_in(client: httpx.AsyncClient) -> None:
    resp = await ui_kit.sign_in(client)
    assert resp.status_code == 303, resp.text


async def portal_session(
    site: Site,
    client: httpx.AsyncClient,
    app_id: str,
    capabilities: list[str] | None,
    read_only: bool = False,
) -> str:
    """A portal session cookie for ``app_id`` (what a magic link leaves behind); returns
    the CSRF token the pages carry."""
    token = await ui_kit.session(site.store, app_id, capabilities or [], read_only)
    client.cookies.set(PORTAL_COOKIE, token)
    return csrf_token(token)


async def make_app(store: Store, name: str, uid: str | None = None) -> Application:
    return await ui_kit.new_app(store, name, uid)


async def make_endpoint(store: Store, app: Application, url: str, **kw: object) -> Endpoint:
    return await ui_kit.new_endpoint(store, app.id, url, **kw)


async def publish(
    store: Store, app: Application, event_type: str, n: int = 1, channels: list[str] | None = None
) -> list[str]:
    made = []
    for _ in range(n):
        msg = await ui_kit.publish(store, app.id, event_type, b'{"n":1}', channels=channels)
        made.append(msg.id)
    return made


async def deliver(store: Store, outcomes: dict[str, list[tuple[bool, int]]]) -> None:
    """Claim due deliveries and record, per endpoint id, its outcomes in order:
    (succeeded, duration ms), round after round (a FIFO endpoint sends one at a time).
    Final attempts: no retry is scheduled."""
    left = {ep: list(v) for ep, v in outcomes.items()}
    for _ in range(50):
        if not any(left.values()):
            return
        now = int(time.time() * 1000)
        ready = await store.ready_endpoints(now, limit=100)
        tasks = await store.claim("ui-test", [(r, 100) for r in ready], now, 60_000, 10_000)
        tasks.sort(key=lambda t: t.delivery_id)
        results = []
        for task in tasks:
            ok, duration = left[task.endpoint_id].pop(0)
            results.append(final_result(task, ok=ok, duration_ms=duration, at_ms=now))
        assert await store.record_results("ui-test", results, now, HealthPolicy()) == 0
    raise AssertionError(f"deliveries never came due: {left}")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page(HTMLParser):
    """Elements by id and by attribute, with their text content."""

    elements: list[Element] = field(default_factory=list)
    _open: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self)

    VOID = frozenset({"input", "meta", "link", "br", "img", "option", "hr"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def by_id(self, id_: str) -> Element | None:
        return next((e for e in self.elements if e.attrs.get("id") == id_), None)

    def text(self, id_: str) -> str:
        element = self.by_id(id_)
        assert element is not None, f"no element #{id_}"
        return " ".join(element.text.split())

    def having(self, attr: str, value: str | None = None) -> list[Element]:
        return [
            e
            for e in self.elements
            if attr in e.attrs and (value is None or e.attrs[attr] == value)
        ]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page
