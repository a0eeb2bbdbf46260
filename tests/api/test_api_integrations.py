"""Svix's integrations: a named key scoped to one application, driven raw and with the
official SDK, whose key then works as the SDK's token on that application only."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from api_helpers import TOKEN, assert_error, assert_list_shape, create_app_record
from live_server import serving
from portal_helpers import bearer
from svix.api import (
    ApplicationIn,
    EndpointIn,
    IntegrationIn,
    IntegrationUpdate,
    MessageIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HttpError

from hookline.store.base import Store

ID = re.compile(r"^integ_[A-Za-z0-9]{27}$")


def _path(app: str, *rest: str) -> str:
    return "/".join([f"/api/v1/app/{app}/integration", *rest])


async def test_shapes_and_the_key_lifecycle(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    mine = await create_app_record(client, uid="mine")
    await create_app_record(client, uid="theirs")
    made = await client.post(_path("mine"), json={"name": "Zapier", "featureFlags": ["beta"]})
    assert made.status_code == 201, made.text
    out = made.json()
    assert ID.match(out["id"]) and out["key"].startswith("integsk_")
    assert set(out) == {"id", "name", "featureFlags", "createdAt", "updatedAt", "key"}
    assert out["featureFlags"] == ["beta"] and out["name"] == "Zapier"
    integ, key = out["id"], bearer(out["key"])
    got = await client.get(_path(mine["id"], integ))
    assert set(got.json()) == {"id", "name", "featureFlags", "createdAt", "updatedAt"}
    listed = (await client.get(_path("mine"))).json()
    assert_list_shape(listed)
    assert [i["id"] for i in listed["data"]] == [integ]
    assert out["key"] not in got.text + str(listed)
    # another application's path does not find it
    assert_error(await client.get(_path("theirs", integ)), 404)
    assert (await client.get(_path("theirs"))).json()["data"] == []
    updated = await client.put(_path("mine", integ), json={"name": "Make"})
    # no flags: the field is left out, as Svix's schema wants at least one when it is there
    assert updated.json()["name"] == "Make" and "featureFlags" not in updated.json()
    assert (await anon.get("/api/v1/app/mine/endpoint", headers=key)).status_code == 200
    rotated = await client.post(_path("mine", integ, "key/rotate"))
    assert rotated.status_code == 200 and set(rotated.json()) == {"key"}
    assert_error(await anon.get("/api/v1/app/mine/endpoint", headers=key), 401)
    new = bearer(rotated.json()["key"])
    assert (await anon.get("/api/v1/app/mine/endpoint", headers=new)).status_code == 200
    assert (await client.delete(_path("mine", integ))).status_code == 204
    assert_error(await anon.get("/api/v1/app/mine/endpoint", headers=new), 401)
    assert_error(await client.get(_path("mine", integ)), 404)
    assert_error(await client.delete(_path("mine", integ)), 404)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "featureFlags": []},
        {"name": "x", "featureFlags": ["has space"]},
        {"name": "x", "featureFlags": ["f"] * 26},
        {"name": 5},
    ],
)
async def test_bad_input_is_422_and_writes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    await create_app_record(client, uid="mine")
    assert_error(await client.post(_path("mine"), json=body), 422)
    assert (await client.get(_path("mine"))).json()["data"] == []
    assert_error(await client.post(_path("nobody"), json={"name": "x"}), 404)


def _sdk_flow(base_url: str) -> None:
    options = SvixOptions(server_url=base_url, retry_schedule=[])
    admin = Svix(TOKEN, options)
    try:
        mine = admin.application.create(ApplicationIn(name="Mine", uid="mine"))
        theirs = admin.application.create(ApplicationIn(name="Theirs", uid="theirs"))
        admin.endpoint.create(theirs.id, EndpointIn(url="https://example.com/b"))
        made = admin.integration.create(
            mine.id, IntegrationIn(name="Zapier", feature_flags=["beta"])
        )
        assert made.name == "Zapier" and made.feature_flags == ["beta"]
        assert [i.id for i in admin.integration.list(mine.id).data] == [made.id]
        assert admin.integration.get(mine.id, made.id).created_at == made.created_at
        updated = admin.integration.update(mine.id, made.id, IntegrationUpdate(name="Make"))
        assert updated.name == "Make"
        key = admin.integration.rotate_key(mine.id, made.id).key
        _as_integration(Svix(key, options), mine.id, theirs.id)
        admin.integration.delete(mine.id, made.id)
        assert admin.integration.list(mine.id).data == []
    finally:
        admin._httpx_client.close()  # SDK 2.9.1 has no close()


def _as_integration(sdk: Svix, mine: str, theirs: str) -> None:
    try:
        endpoint = sdk.endpoint.create(mine, EndpointIn(url="https://example.com/a"))
        assert [e.id for e in sdk.endpoint.list(mine).data] == [endpoint.id]
        sent = sdk.message.create(mine, MessageIn(event_type="a.b", payload={"k": 1}))
        assert sent.event_type == "a.b"
        for refused in (
            lambda: sdk.endpoint.list(theirs),
            lambda: sdk.application.get(theirs),
            lambda: sdk.application.list(),
            lambda: sdk.integration.list(mine),
            lambda: sdk.integration.create(mine, IntegrationIn(name="more")),
        ):
            with pytest.raises(HttpError) as caught:
                refused()
            assert caught.value.status_code in (403, 404)
    finally:
        sdk._httpx_client.close()


async def test_the_svix_sdk_manages_integrations_and_uses_their_keys(store: Store) -> None:
    async with serving(store) as base:
        await asyncio.to_thread(_sdk_flow, base)
