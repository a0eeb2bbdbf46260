"""``hookline listen TARGET`` end to end: a real ``hookline serve``, listener processes and
a local target on 127.0.0.1.

Deliveries reach the target through the tunnel signed as the worker would sign them
(checked with the independent ``standardwebhooks``), the target's answer is the attempt,
a 500 is retried per schedule, deliveries wait while no listener is connected and arrive
once one is back, and an application's key neither attaches to another application's
endpoint nor sees its messages. One server for the module: each test has its own apps.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import standardwebhooks.webhooks

import hookline
from hookline.testing import Receiver

if TYPE_CHECKING:  # types only: several conftest modules share that name in a whole run
    from conftest import Api, ServerHandle

SRC_DIR = Path(hookline.__file__).resolve().parents[1]

TUNNEL = "tunnel://"


class Listener:
    """One ``hookline listen`` process; its output goes to a file the test reads."""

    def __init__(self, server: ServerHandle, out: Path, args: list[str], token: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKLINE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
        env |= {"HOOKLINE_URL": server.base_url, "HOOKLINE_TOKEN": token}
        env |= {"HOOKLINE_CONFIG": str(out.with_suffix(".toml")), "PYTHONUNBUFFERED": "1"}
        self.out = out
        with open(out, "wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hookline", "listen", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    async def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from the listener:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.output()

    def value(self, label: str) -> str:
        for line in self.output().splitlines():
            if line.startswith(label):
                return line.split()[-1] if label != "endpoint:" else line.split()[1]
        raise AssertionError(f"no {label!r} line:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="module")
def server(start_module_server: Callable[..., ServerHandle]) -> ServerHandle:
    return start_module_server(args=["--workers", "0"])  # one process: starts fastest


@pytest.fixture
def listen(server: ServerHandle, tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    started: list[Listener] = []

    def start(*args: str, token: str | None = None) -> Listener:
        out = tmp_path / f"listener{len(started)}.out"
        listener = Listener(server, out, list(args), token or server.token)
        started.append(listener)
        return listener

    yield start
    for listener in started:
        listener.stop()


async def attempts(api: Api, app_id: str, endpoint_id: str) -> list[dict[str, Any]]:
    return await api.attempts_by_endpoint(app_id, endpoint_id)


async def test_deliveries_arrive_signed_and_the_local_answer_is_the_attempt(
    server: ServerHandle, listen: Callable[..., Listener]
) -> None:
    async with Receiver() as rx, server.api() as api:
        rx.script("/hook", [500], default=202, body='{"ok": true}')
        app = await api.create_app("tunnel-a")
        listener = listen(rx.url("/hook"), "--app", app, "--name", "signed")
        await listener.wait_for("connected")
        endpoint = listener.value("endpoint:")
        secret = listener.value("secret:")
        assert endpoint.startswith("ep_") and secret.startswith("whsec_")

        first = await api.publish(app, "invoice.paid", {"n": 1})
        second = await api.publish(app, "invoice.paid", {"n": 2})
        # the first send answered 500, its retry and the second message 202
        got = await rx.wait_for(3, path="/hook")
        verifier = standardwebhooks.webhooks.Webhook(secret)
        for request in got:
            verifier.verify(request.body, dict(request.headers))
        assert sorted(r.webhook_id or "" for r in got) == sorted([first, first, second]) or (
            sorted(r.webhook_id or "" for r in got) == sorted([first, second, second])
        )

        async def recorded() -> bool:
            return len(await attempts(api, app, endpoint)) == 3

        await api.eventually(recorded, timeout=30)
        log = await attempts(api, app, endpoint)
        assert sorted(a["responseStatusCode"] for a in log) == [202, 202, 500]
        for attempt in log:
            assert attempt["url"] == TUNNEL and attempt["responseDurationMs"] >= 0
            if attempt["responseStatusCode"] == 202:
                assert attempt["response"] == '{"ok": true}' and attempt["status"] == 0
            else:
                assert attempt["status"] == 2 and attempt["errorKind"] == "http_status"
        failed = next(a for a in log if a["responseStatusCode"] == 500)
        retried = [a for a in log if a["msgId"] == failed["msgId"]]
        assert sorted(a["responseStatusCode"] for a in retried) == [202, 500]
        assert " 500 " in listener.output() and " 202 " in listener.output()


async def test_deliveries_wait_while_no_listener_is_attached(
    server: ServerHandle, listen: Callable[..., Listener]
) -> None:
    async with Receiver() as rx, server.api() as api:
        app = await api.create_app("tunnel-b")
        listener = listen(rx.url("/in"), "--app", app, "--name", "restart")
        await listener.wait_for("connected")
        endpoint = listener.value("endpoint:")
        before = await api.publish(app, "a.b", {"n": 0})
        await rx.wait_for(1, path="/in")
        await api.eventually(lambda: _count(api, app, endpoint, 1))
        listener.stop()  # SIGKILL: the socket drops with no goodbye

        waiting = [await api.publish(app, "a.b", {"n": n}) for n in range(1, 4)]
        # several poll intervals and retry delays: nothing is sent, nothing is attempted
        await asyncio.sleep(1.5)
        assert len(rx.requests("/in")) == 1
        assert len(await attempts(api, app, endpoint)) == 1

        again = listen(rx.url("/in"), "--app", app, "--endpoint", endpoint)
        await again.wait_for("connected")
        got = await rx.wait_for(4, path="/in")
        assert {r.webhook_id for r in got} == {before, *waiting}
        await api.eventually(lambda: _count(api, app, endpoint, 4))
        assert all(a["status"] == 0 for a in await attempts(api, app, endpoint))


async def _count(api: Api, app: str, endpoint: str, n: int) -> bool:
    return len(await attempts(api, app, endpoint)) == n


async def test_an_applications_key_reaches_only_its_own_tunnels(
    server: ServerHandle, listen: Callable[..., Listener]
) -> None:
    async with Receiver() as rx, server.api() as api:
        app_a, app_b = await api.create_app("tunnel-ka"), await api.create_app("tunnel-kb")
        ep_b = (await api.create_endpoint(app_b, TUNNEL))["id"]
        key_a = await _key(server, app_a)

        # refused at the handshake, before any traffic: as if app B did not exist
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            for token, expected in ((key_a, 404), ("hlk_not-a-key", 401)):
                answer = await client.get(
                    f"/api/v1/app/{app_b}/endpoint/{ep_b}/tunnel",
                    headers={**_upgrade(), "Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == expected, answer.text
                assert answer.json()["code"] in ("not_found", "authentication_failed")
        intruder = listen(rx.url("/b"), "--app", app_b, "--endpoint", ep_b, token=key_a)
        assert intruder.proc.wait(30) != 0
        assert "connected" not in intruder.output()

        mine = listen(rx.url("/a"), "--app", app_a, "--name", "keyed", token=key_a)
        await mine.wait_for("connected")
        theirs = await api.publish(app_b, "x.y", {"for": "b"})
        ours = await api.publish(app_a, "x.y", {"for": "a"})
        got = await rx.wait_for(1, path="/a")
        assert [r.webhook_id for r in got] == [ours]
        # B's message waits for a listener of B's; none reached any path here
        assert [r.webhook_id for r in rx.requests()] == [ours]
        assert theirs not in mine.output() and rx.requests("/b") == []


async def test_the_printed_ingest_url_reaches_the_local_target(
    server: ServerHandle, listen: Callable[..., Listener]
) -> None:
    async with Receiver() as rx:
        listener = listen(rx.url("/ingested"), "--name", "ingest")
        await listener.wait_for("connected")
        ingest_url = listener.value("ingest URL:")
        assert ingest_url.startswith(server.base_url + "/in/")
        async with httpx.AsyncClient() as client:
            answer = await client.post(ingest_url, json={"hello": "local"})
        assert answer.status_code < 300, answer.text
        (got,) = await rx.wait_for(1, path="/ingested")
        assert got.json() == {"hello": "local"}
        standardwebhooks.webhooks.Webhook(listener.value("secret:")).verify(
            got.body, dict(got.headers)
        )


def _upgrade() -> dict[str, str]:
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


async def _key(server: ServerHandle, app_id: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, headers=server.auth) as client:
        made = await client.post("/api/v1/auth/api-token", json={"name": "a", "appId": app_id})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])
