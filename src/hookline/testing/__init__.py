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
"""

from hookline.testing.chaos import ChaosExchange, ChaosReceiver, MiB
from hookline.testing.receiver import ReceivedRequest, Receiver, Script, ThreadedReceiver

__all__ = [
    "ChaosExchange",
    "ChaosReceiver",
    "MiB",
    "ReceivedRequest",
    "Receiver",
    "Script",
    "ThreadedReceiver",
]
