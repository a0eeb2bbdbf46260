"""Every role of a process on the test's own event loop: the API on a real socket, the
worker and the rest, started and stopped as ``hookline serve --workers 0`` would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hookline import runtime


@asynccontextmanager
async def running(roles: runtime.Roles, stop_timeout: float = 20.0) -> AsyncIterator[None]:
    """Yields once every role runs and the API (if any) listens; a role that fails to
    start raises here. At the end the API is told to exit, which stops the others."""
    started = asyncio.Event()
    task = asyncio.create_task(runtime.run(roles, started))
    await asyncio.wait(
        [asyncio.ensure_future(started.wait()), task], return_when=asyncio.FIRST_COMPLETED
    )
    while roles.api is not None and not roles.api.started and not task.done():
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # startup failed: raise its error
    try:
        yield
    finally:
        if roles.api is not None:
            roles.api.should_exit = True
        await asyncio.wait_for(task, stop_timeout)
