"""Endpoints attached to a local action: only names the server's actions file declares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_helpers import BASE, OPS, TOKEN, assert_error, create_app_record, list_all

from hookline.addresses import AddressPolicy
from hookline.api import ApiContext, create_app
from hookline.store.base import Store

URL = "https://example.com/hook"


@pytest.fixture
async def actions_client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The API of a server whose actions file declares ``deploy`` and ``notify``, with
    the production SSRF policy (no loopback, no private ranges)."""
    context = ApiContext(
        store=store,
        admin_token=TOKEN,
        address_policy=AddressPolicy.build(
            allow_private=False, allowed_subnets=(), allow_loopback=False
        ),
        action_names=frozenset({"deploy", "notify"}),
    )
    transport = httpx.ASGITransport(app=create_app(context))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as c:
        yield c


async def test_an_endpoint_attaches_to_a_declared_action(actions_client: httpx.AsyncClient) -> None:
    app = await create_app_record(actions_client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    created = await actions_client.post(base, json={"url": "action://deploy"})
    assert created.status_code == 201, created.text
    ep = created.json()
    assert ep["url"] == "action://deploy"
    patched = await actions_client.patch(f"{base}/{ep['id']}", json={"url": "action://notify"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["url"] == "action://notify"
    put = await actions_client.put(f"{base}/{ep['id']}", json={"url": "action://deploy"})
    assert put.json()["url"] == "action://deploy"
    back = await actions_client.patch(f"{base}/{ep['id']}", json={"url": URL})
    assert back.json()["url"] == URL


@pytest.mark.parametrize(
    "url", ["action://undeclared", "action://", "action://deploy/x", "action://Deploy"]
)
async def test_an_undeclared_action_is_422_and_writes_nothing(
    actions_client: httpx.AsyncClient, url: str
) -> None:
    app = await create_app_record(actions_client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    body = assert_error(await actions_client.post(base, json={"url": url}), 422)
    assert "is not declared in the server's actions file" in body["detail"][0]["msg"]
    assert body["detail"][0]["loc"] == ["body", "url"]
    assert await list_all(actions_client, base) == []
    ep = (await actions_client.post(base, json={"url": URL})).json()
    assert_error(await actions_client.patch(f"{base}/{ep['id']}", json={"url": url}), 422)
    assert_error(await actions_client.put(f"{base}/{ep['id']}", json={"url": url}), 422)
    assert (await actions_client.get(f"{base}/{ep['id']}")).json()["url"] == URL


async def test_without_an_actions_file_no_action_is_accepted(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    body = assert_error(await client.post(base, json={"url": "action://deploy"}), 422)
    assert "not declared" in body["detail"][0]["msg"]
    assert await list_all(client, base) == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "ACTION://deploy",
        "actions://deploy",
        "http://127.0.0.1/hook",
    ],
)
async def test_other_schemes_and_refused_hosts_stay_refused(
    actions_client: httpx.AsyncClient, url: str
) -> None:
    app = await create_app_record(actions_client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    assert_error(await actions_client.post(base, json={"url": url}), 422)
    assert await list_all(actions_client, base) == []


async def test_operational_endpoints_cannot_run_actions(
    actions_client: httpx.AsyncClient,
) -> None:
    assert_error(await actions_client.post(OPS, json={"url": "action://deploy"}), 422)
    assert await list_all(actions_client, OPS) == []
