"""Credentials in an endpoint URL are used for delivery and never shown by the API."""

from __future__ import annotations

import base64

import httpx
from engine_kit import LOOPBACK_OK, EngineFactory

from hookline.api import ApiContext, create_app

TOKEN = "test-token-0123456789abcdef"


async def test_credentials_are_sent_but_masked_in_endpoints_and_attempts(
    engine: EngineFactory,
) -> None:
    e = await engine(schedule=())
    ep = await e.endpoint("/creds")
    ep.url = ep.url.replace("http://", "http://alice:s3cr%40t@")
    await e.store.update_endpoint(ep)
    await e.publish()
    [request] = await e.receiver.wait_for(1, "/creds")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"alice:s3cr@t").decode()

    api = create_app(ApiContext(store=e.store, admin_token=TOKEN, address_policy=LOOPBACK_OK))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as c:
        base = f"/api/v1/app/{e.app.id}"

        async def attempts() -> list[dict[str, str]]:
            data: list[dict[str, str]] = (await c.get(f"{base}/attempt/endpoint/{ep.id}")).json()[
                "data"
            ]
            return data

        async def attempted() -> bool:
            return bool(await attempts())

        await e.until(attempted)
        [attempt] = await attempts()
        shown = [attempt["url"], (await c.get(f"{base}/endpoint/{ep.id}")).json()["url"]]
        single = await c.get(f"{base}/msg/{attempt['msgId']}/attempt/{attempt['id']}")
        shown.append(single.json()["url"])
    masked = e.receiver.url("/creds").replace("http://", "http://***@")
    assert shown == [masked] * 3


async def test_writing_back_the_masked_url_keeps_the_credentials(engine: EngineFactory) -> None:
    """Read, change the description, write the whole endpoint back: the masked URL in
    that body must not replace the stored credentials."""
    e = await engine(schedule=())
    ep = await e.endpoint("/creds")
    ep.url = ep.url.replace("http://", "http://alice:pw@")
    await e.store.update_endpoint(ep)
    api = create_app(ApiContext(store=e.store, admin_token=TOKEN, address_policy=LOOPBACK_OK))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as c:
        path = f"/api/v1/app/{e.app.id}/endpoint/{ep.id}"
        read = (await c.get(path)).json()
        assert "***@" in read["url"]
        put = await c.put(path, json={"url": read["url"], "description": "renamed"})
        patch = await c.patch(path, json={"url": read["url"]})
        assert put.status_code == 200 and patch.status_code == 200, (put.text, patch.text)
    await e.publish()
    [request] = await e.receiver.wait_for(1, "/creds")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"alice:pw").decode()
