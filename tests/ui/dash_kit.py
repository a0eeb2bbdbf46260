"""Helpers of the overview, application and endpoint page tests: the real API and UI on
a real SQLite store, an operator signed in through the sign-in form, portal sessions of
chosen capabilities, traffic made with the store's own verbs, and a small HTML reader.
(Imported as ``dash_kit``; not a conftest.)"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx

from hookline import ids
from hookline.access import csrf_token, new_token, token_hash
from hookline.api import ApiContext, create_app
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.models import (
    AccessKind,
    AccessToken,
    Application,
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    Endpoint,
    ErrorKind,
    Message,
    TriggerType,
)
from hookline.runtime import open_store
from hookline.signing import generate_secret
from hookline.store.base import Store
from hookline.ui import UiConfig, mount_ui

TOKEN = "ui-test-token-0123456789abcdef"
BASE = "http://hookline.test"


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
    """The operator's real sign-in: the form's CSRF cookie and field, then the token."""
    form = await client.get("/ui/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    resp = await client.post(
        "/ui/login", data={"csrf_token": csrf.group(1), "token": TOKEN, "next": "/ui/"}
    )
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
    token = new_token("sess")
    now = int(time.time() * 1000)
    await site.store.create_access_tokens(
        [
            AccessToken(
                id=ids.new_id("sess", now),
                kind=AccessKind.SESSION,
                token_hash=token_hash(token),
                app_id=app_id,
                capabilities=capabilities or [],
                read_only=read_only,
                created_at=now,
                expires_at=now + 3_600_000,
            )
        ]
    )
    client.cookies.set("hookline_portal", token)
    return csrf_token(token)


async def make_app(store: Store, name: str, uid: str | None = None) -> Application:
    now = int(time.time() * 1000)
    return await store.create_application(
        Application(id=ids.new_id("app"), name=name, uid=uid, created_at=now, updated_at=now)
    )


async def make_endpoint(store: Store, app: Application, url: str, **kw: object) -> Endpoint:
    now = int(time.time() * 1000)
    return await store.create_endpoint(
        Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url=url,
            secret=generate_secret(),
            created_at=now,
            updated_at=now,
            **kw,  # type: ignore[arg-type]
        )
    )


async def publish(
    store: Store, app: Application, event_type: str, n: int = 1, channels: list[str] | None = None
) -> list[str]:
    made = []
    for _ in range(n):
        now = int(time.time() * 1000)
        msg = Message(
            id=ids.new_id("msg", now),
            app_id=app.id,
            event_type=event_type,
            payload=b'{"n":1}',
            channels=channels,
            created_at=now,
        )
        made.append((await store.publish(msg, now)).message.id)
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
            attempt = Attempt(
                id=ids.new_id("atmpt", now),
                delivery_id=task.delivery_id,
                msg_id=task.msg_id,
                endpoint_id=task.endpoint_id,
                app_id=task.app_id,
                url=task.url,
                status=DeliveryStatus.SUCCESS if ok else DeliveryStatus.FAILED,
                response_status=200 if ok else 500,
                response_body="",
                duration_ms=duration,
                error_kind=None if ok else ErrorKind.HTTP_STATUS,
                trigger=TriggerType.SCHEDULED,
                created_at=now,
            )
            results.append(DeliveryResult(attempt, None, lease_until=task.lease_until))
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
