"""Concurrent updates through the API: no change may silently undo another.

The in-process API runs over the worker's store. Some tests race real requests with
``asyncio.gather``; the others make the race certain with ``Interleaved``, the real
store with a change slipped in right after a handler's read and before its write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import httpx
import standardwebhooks
from engine_kit import LOOPBACK_OK, Engine, EngineFactory

from hookline.api import ApiContext, create_app
from hookline.models import OPERATIONAL_APP_ID, Application, Endpoint
from hookline.signing import generate_secret
from hookline.store.base import Store

TOKEN = "race-test-token-0123456789"
OPS = "/api/v1/operational-webhook/endpoint"
Step = Callable[[], Awaitable[None]]


class Interleaved:
    """The real store; after a read of an endpoint or application, the next queued step
    runs before the read returns, so its change lands between the caller's read and write."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.after_endpoint_read: list[Step] = []
        self.after_app_read: list[Step] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get_endpoint(self, app_id: str, ref: str) -> Endpoint:
        found = await self._store.get_endpoint(app_id, ref)
        if self.after_endpoint_read:
            await self.after_endpoint_read.pop(0)()
        return found

    async def get_application(self, ref: str) -> Application:
        found = await self._store.get_application(ref)
        if self.after_app_read:
            await self.after_app_read.pop(0)()
        return found


def api(store: Store | Interleaved) -> httpx.AsyncClient:
    context = ApiContext(store=cast(Store, store), admin_token=TOKEN, address_policy=LOOPBACK_OK)
    app = create_app(context)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://hookline.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def api_endpoint(client: httpx.AsyncClient, e: Engine, path: str) -> str:
    """An endpoint made through the API; returns its URL path in the API."""
    made = await client.post(f"/api/v1/app/{e.app.id}/endpoint", json={"url": e.receiver.url(path)})
    assert made.status_code == 201, made.text
    return f"/api/v1/app/{e.app.id}/endpoint/{made.json()['id']}"


async def test_rotate_and_patch_at_once_both_land_and_the_new_key_signs(
    engine: EngineFactory,
) -> None:
    e = await engine()
    async with api(e.store) as client:
        base = await api_endpoint(client, e, "/hook")
        seen = {(await client.get(f"{base}/secret")).json()["key"]}
        for i in range(20):
            rotated, patched = await asyncio.gather(
                client.post(f"{base}/secret/rotate", json={}),
                client.patch(base, json={"description": f"round {i}"}),
            )
            assert rotated.status_code == 204, rotated.text
            assert patched.status_code == 200, patched.text
            assert (await client.get(base)).json()["description"] == f"round {i}"
            key = (await client.get(f"{base}/secret")).json()["key"]
            assert key not in seen, "the rotation was lost"
            seen.add(key)
            sent = await client.post(
                f"/api/v1/app/{e.app.id}/msg", json={"eventType": "a.b", "payload": {"i": i}}
            )
            assert sent.status_code == 202, sent.text
            requests = await e.receiver.wait_for(i + 1, "/hook", timeout=10)
            [request] = [r for r in requests if r.webhook_id == sent.json()["id"]]
            standardwebhooks.Webhook(key).verify(request.body, dict(request.headers))


async def test_patch_read_before_the_worker_disabled_it_keeps_it_disabled(
    engine: EngineFactory,
) -> None:
    e = await engine()
    e.receiver.script("/gone", default=410)
    store = Interleaved(e.store)
    async with api(store) as client:
        base = await api_endpoint(client, e, "/gone")
        ep_id = base.rsplit("/", 1)[1]

        async def worker_disables_it() -> None:
            await e.publish()

            async def disabled() -> bool:
                return (await e.store.get_endpoint(e.app.id, ep_id)).disabled

            await e.until(disabled, timeout=10)

        store.after_endpoint_read.append(worker_disables_it)
        patched = await client.patch(base, json={"description": "patched"})
        assert patched.status_code == 200, patched.text
        assert patched.json()["disabled"] is True
        assert patched.json()["description"] == "patched"
        stored = await e.store.get_endpoint(e.app.id, ep_id)
        assert stored.disabled and stored.description == "patched"


async def test_an_endpoint_that_keeps_changing_answers_409(engine: EngineFactory) -> None:
    e = await engine()
    store = Interleaved(e.store)
    async with api(store) as client:
        base = await api_endpoint(client, e, "/busy")
        ep_id = base.rsplit("/", 1)[1]
        bumps = [0]

        async def someone_else_writes() -> None:
            current = await e.store.get_endpoint(e.app.id, ep_id)
            bumps[0] += 1
            current.metadata = {"bump": str(bumps[0])}
            await e.store.update_endpoint(current)

        store.after_endpoint_read.extend([someone_else_writes] * 50)
        patched = await client.patch(base, json={"description": "mine"})
        body = patched.json()
        assert patched.status_code == 409 and body["code"] == "conflict", patched.text
        assert "detail" in body
        stored = await e.store.get_endpoint(e.app.id, ep_id)
        assert stored.description == "" and stored.metadata == {"bump": str(bumps[0])}


async def test_application_patches_at_once_both_land(engine: EngineFactory) -> None:
    e = await engine()
    async with api(e.store) as client:
        base = f"/api/v1/app/{e.app.id}"
        for i in range(20):
            named, tagged = await asyncio.gather(
                client.patch(base, json={"name": f"name {i}"}),
                client.patch(base, json={"metadata": {"round": str(i)}}),
            )
            assert named.status_code == 200 and tagged.status_code == 200
            shown = (await client.get(base)).json()
            assert (shown["name"], shown["metadata"]) == (f"name {i}", {"round": str(i)})
            assert "version" not in shown  # Svix's ApplicationOut has none


async def test_application_patch_reapplies_over_a_change_made_after_its_read(
    engine: EngineFactory,
) -> None:
    e = await engine()
    store = Interleaved(e.store)

    async def someone_tags_it() -> None:
        current = await e.store.get_application(e.app.id)
        current.metadata = {"team": "billing"}
        await e.store.update_application(current)

    store.after_app_read.append(someone_tags_it)
    async with api(store) as client:
        named = await client.patch(f"/api/v1/app/{e.app.id}", json={"name": "renamed"})
    assert named.status_code == 200, named.text
    assert (named.json()["name"], named.json()["metadata"]) == ("renamed", {"team": "billing"})
    stored = await e.store.get_application(e.app.id)
    assert (stored.name, stored.metadata) == ("renamed", {"team": "billing"})


async def test_operational_rotate_keeps_a_headers_change_made_after_its_read(
    engine: EngineFactory,
) -> None:
    e = await engine()
    store = Interleaved(e.store)
    async with api(store) as client:
        made = await client.post(OPS, json={"url": e.receiver.url("/ops")})
        assert made.status_code == 201, made.text
        ep_id = made.json()["id"]

        async def someone_sets_headers() -> None:
            current = await e.store.get_endpoint(OPERATIONAL_APP_ID, ep_id)
            current.headers = {"x-team": "ops"}
            await e.store.update_endpoint(current)

        store.after_endpoint_read.append(someone_sets_headers)
        new_key = generate_secret()
        rotated = await client.post(f"{OPS}/{ep_id}/secret/rotate", json={"key": new_key})
        assert rotated.status_code == 204, rotated.text
        assert (await client.get(f"{OPS}/{ep_id}/secret")).json()["key"] == new_key
        headers = (await client.get(f"{OPS}/{ep_id}/headers")).json()["headers"]
        assert headers == {"x-team": "ops"}
