"""The real app served by uvicorn on a 127.0.0.1 socket, for tests driving it over HTTP
(the official Svix SDK among them). Imported as ``live_server``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from api_helpers import TOKEN
from svix.api import SvixAsync, SvixOptions

from hookline.api import ApiContext, create_app
from hookline.store.base import Store


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


@contextlib.asynccontextmanager
async def serving(store: Store, **context: Any) -> AsyncIterator[str]:
    """Yields the base URL; the server stops when the block ends. ``context``: more
    ``ApiContext`` fields."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    fields: dict[str, Any] = {"public_url": base, **context}
    app = create_app(ApiContext(store=store, admin_token=TOKEN, **fields))
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "server did not start"
            await asyncio.sleep(0.01)
        yield base
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def svix_sdk(store: Store) -> AsyncIterator[SvixAsync]:
    """The official SDK, unchanged, against the served app (no client-side retries)."""
    async with serving(store) as base:
        client = SvixAsync(TOKEN, SvixOptions(server_url=base, retry_schedule=[]))
        try:
            yield client
        finally:  # SDK 2.9.1 has no close(); an open keep-alive socket trips ResourceWarning
            await client._httpx_client.aclose()
