"""Test helpers shipped with hookline: a real HTTP receiver whose answers a test scripts.

End-to-end tests need a subscriber on a real socket that records exactly what arrived (raw
bytes, headers, timing) and answers as the test dictates: fail twice then succeed, answer
slowly, send ``Retry-After``. :class:`Receiver` runs inside the test's event loop;
:class:`ThreadedReceiver` runs one on its own loop in a thread, for synchronous tests.

    async with Receiver() as rx:
        rx.script("/hook", [500, 500, 200])
        ...  # point an endpoint at rx.url("/hook") and publish
        requests = await rx.wait_for(3, path="/hook")

It also knows which requests it has not answered yet (:meth:`Receiver.unanswered`, the peak
of them per path in :meth:`Receiver.max_concurrent`), and can hold every request to a path
unanswered until the test lets go (:meth:`Receiver.hold`, :meth:`Receiver.release`).

:class:`ChaosReceiver` misbehaves below HTTP, where a well-behaved server framework cannot:
it hangs, resets the connection, dribbles or floods the body, or answers with garbage.

    async with ChaosReceiver() as rx:
        rx.hang("/hang")
        rx.huge("/huge")
        ...

For an application's own tests, the pytest plugin (``hookline.testing.pytest_plugin``)
offers ``webhook_receiver``, ``sign_request`` and ``hookline_server``; see docs/testing.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookline.testing.chaos import ChaosExchange, ChaosReceiver, MiB
    from hookline.testing.receiver import ReceivedRequest, Receiver, Script, ThreadedReceiver
    from hookline.testing.server import HooklineServer, HooklineServerError
    from hookline.testing.signers import SignedRequest, sign_request

# Imported on first use: pytest loads this package (its plugin module) in every test run
# of a project with hookline installed, which should not pay for aiohttp or httpx.
_WHERE = {
    "ChaosExchange": "chaos",
    "ChaosReceiver": "chaos",
    "MiB": "chaos",
    "ReceivedRequest": "receiver",
    "Receiver": "receiver",
    "Script": "receiver",
    "ThreadedReceiver": "receiver",
    "HooklineServer": "server",
    "HooklineServerError": "server",
    "SignedRequest": "signers",
    "sign_request": "signers",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ChaosExchange",
    "ChaosReceiver",
    "HooklineServer",
    "HooklineServerError",
    "MiB",
    "ReceivedRequest",
    "Receiver",
    "Script",
    "SignedRequest",
    "ThreadedReceiver",
    "sign_request",
]
