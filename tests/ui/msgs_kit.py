"""Helpers for the message, catalogue, source and live-tail page tests (imported as
``msgs_kit``): the real API app with the dashboard mounted, on a real SQLite store, and
sessions made the way sign-in and the portal's magic link make them (an ``AccessToken``
row and its cookie)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hookline import ids, runtime
from hookline.access import csrf_token, new_token, token_hash
from hookline.addresses import AddressPolicy
from hookline.api import ApiContext, create_app
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.delivery.sender import Sender, SenderConfig
from hookline.delivery.worker import Worker, WorkerConfig
from hookline.models import (
    AccessKind,
    AccessToken,
    Application,
    DeliveryStatus,
    Endpoint,
    Message,
)
from hookline.retry import RetryPolicy
from hookline.signing import generate_secret
from hookline.store.base import Store
from hookline.ui import UiConfig, mount_ui
from hookline.ui.session import OPERATOR_COOKIE, PORTAL_COOKIE

TOKEN = "admin-token-for-the-dashboard"
BASE = "http://127.0.0.1:8000"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = runtime.open_store(Settings(data_dir=tmp_path, sqlite_synchronous="OFF"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def build_app(store: Store, **ui: object) -> FastAPI:
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    mount_ui(app, UiConfig(store=store, admin_token=TOKEN, **ui))  # type: ignore[arg-type]
    return app


async def session(
    store: Store,
    app_id: str | None = None,
    capabilities: Sequence[str] = ("ViewBase", "CreateAttempts"),
    read_only: bool = False,
    ttl_ms: int = 3600_000,
) -> str:
    """A session's cookie value: the operator's (``app_id`` None) or a portal customer's."""
    token = new_token("sess")
    t = now_ms()
    await store.create_access_tokens(
        [
            AccessToken(
                id=ids.new_id("sess", t),
                kind=AccessKind.SESSION,
                token_hash=token_hash(token),
                app_id=app_id,
                capabilities=list(capabilities),
                read_only=read_only,
                created_at=t,
                expires_at=t + ttl_ms,
            )
        ]
    )
    return token


def client(app: FastAPI, token: str, portal: bool = False) -> httpx.AsyncClient:
    """A browser with a session cookie; it sends the CSRF header a page's script would."""
    cookie = PORTAL_COOKIE if portal else OPERATOR_COOKIE
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        cookies={cookie: token},
        headers={"X-CSRF-Token": csrf_token(token)},
    )


async def new_app(store: Store, name: str) -> Application:
    t = now_ms()
    return await store.create_application(
        Application(id=ids.new_id("app", t), name=name, created_at=t, updated_at=t)
    )


async def new_endpoint(store: Store, app_id: str, url: str, **fields: object) -> Endpoint:
    t = now_ms()
    ep = Endpoint(
        id=ids.new_id("ep", t),
        app_id=app_id,
        url=url,
        secret=generate_secret(),
        created_at=t,
        updated_at=t,
    )
    for key, value in fields.items():
        setattr(ep, key, value)
    return await store.create_endpoint(ep)


async def publish(
    store: Store,
    app_id: str,
    event_type: str,
    payload: bytes,
    at_ms: int | None = None,
    event_id: str | None = None,
) -> Message:
    t = at_ms if at_ms is not None else now_ms()
    msg = Message(
        id=ids.new_id("msg", t),
        app_id=app_id,
        event_type=event_type,
        payload=payload,
        event_id=event_id,
        created_at=t,
    )
    return (await store.publish(msg, t)).message


def row_ids(html: str) -> list[str]:
    """The message ids of a log page's rows, in page order."""
    return re.findall(r'data-testid="message-row" data-msg-id="([^"]+)"', html)


def link(html: str, element_id: str) -> str | None:
    found = re.search(rf'id="{element_id}" href="([^"]+)"', html)
    return None if found is None else found.group(1).replace("&amp;", "&")


@asynccontextmanager
async def running_worker(
    store: Store, schedule: tuple[float, ...] = (0.05,)
) -> AsyncIterator[None]:
    """The real delivery worker, allowed to reach the loopback receiver."""
    sender = Sender(
        SenderConfig(
            request_timeout=5.0,
            connect_timeout=5.0,
            max_response_body=20 * 1024,
            policy=AddressPolicy.build(
                allow_private=False, allowed_subnets=(), allow_loopback=True
            ),
        )
    )
    await sender.open()
    worker = Worker(
        store,
        sender,
        RetryPolicy(schedule, jitter=0.0),
        WorkerConfig(poll_interval=0.05, lease_seconds=10, drain_timeout=6, health=HealthPolicy()),
    )
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task
        await sender.close()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.05)


async def settled(store: Store, msg: Message) -> bool:
    """Every delivery of the message is final (succeeded or failed for good)."""
    deliveries = await store.list_deliveries(msg.app_id, msg.id)
    return bool(deliveries) and all(
        d.status in (DeliveryStatus.SUCCESS, DeliveryStatus.FAILED) for d in deliveries
    )
