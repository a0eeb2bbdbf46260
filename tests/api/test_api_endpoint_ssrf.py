"""Endpoint URLs whose host is an address the SSRF guard refuses are 422 when written.

The API judges address literals only (never DNS); names are judged by the worker when
it connects. Every URL here is only a string given to the API: no worker runs, nothing
connects to any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import (
    BASE,
    OPS,
    TOKEN,
    assert_error,
    create_app_record,
    list_all,
    url_requests,
    url_routes,
)
from api_helpers import (
    ENDPOINTS as APP,
)

from hookline import runtime
from hookline.addresses import AddressPolicy
from hookline.config import Settings
from hookline.store.base import Store

LOOPBACK = [
    "http://127.0.0.1:9/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.0.0.1./",
    "http://[::ffff:127.0.0.1]/",
    "http://[::1]:8080/h",
    "http://localhost/",
    "http://localhost./",
    "http://LocalHost:9/",
    "http://hooks.localhost/",
    "http://user:pass@127.0.0.1/",
    "http://example.com@127.0.0.1/",
]
PRIVATE = [
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00::1]/",
    "http://192.168.0.1/",
    "http://0xa9fea9fe/",  # 169.254.169.254
    "http://0.0.0.0/",
    "http://[::ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 carrying 127.0.0.1: the worker refuses it in dev too
    "http://[64:ff9b::7f00:1]/",  # NAT64 carrying 127.0.0.1, likewise
]
NAMES = [
    "https://internal.example/",  # might resolve anywhere: the worker decides
    "https://localhost.example.com/",
    "https://127.0.0.1.example.com/",
    "http://127.0.0.1%2f@example.com/",  # userinfo "127.0.0.1%2f": the host is example.com
]
GUARD_ON = AddressPolicy()
DEV = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)
GUARD_OFF = AddressPolicy.build(allow_private=True, allowed_subnets=(), allow_loopback=False)


async def stored(c: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await list_all(c, APP) + await list_all(c, OPS)


async def assert_refused_everywhere(c: httpx.AsyncClient, url: str) -> None:
    before = await stored(c)
    for method, path, body in url_requests(url):
        error = assert_error(await c.request(method, path, json=body), 422)
        where = (url, method, path, error)
        assert error["code"] == "validation", where
        assert error["detail"][0]["loc"] == ["body", "url"], where
        assert "SSRF guard refuses" in error["detail"][0]["msg"], where
    assert await stored(c) == before


async def assert_accepted_everywhere(c: httpx.AsyncClient, url: str) -> None:
    for method, path, body in url_requests(url):
        resp = await c.request(method, path, json=body)
        assert resp.status_code in (200, 201), (url, method, path, resp.text)


async def test_guard_on_by_default_refuses_address_literals(store: Store) -> None:
    """A context built without a policy refuses as the worker does with no settings."""
    async with url_routes(store, None) as c:
        for url in LOOPBACK + PRIVATE:
            await assert_refused_everywhere(c, url)


async def test_names_are_left_to_the_worker(store: Store) -> None:
    async with url_routes(store, None) as c:
        for url in NAMES:
            await assert_accepted_everywhere(c, url)


async def test_dev_accepts_loopback_but_not_private(store: Store) -> None:
    async with url_routes(store, DEV) as c:
        for url in LOOPBACK:
            await assert_accepted_everywhere(c, url)
        for url in PRIVATE:
            await assert_refused_everywhere(c, url)


async def test_guard_off_accepts_every_literal(store: Store) -> None:
    async with url_routes(store, GUARD_OFF) as c:
        for url in LOOPBACK + PRIVATE:
            await assert_accepted_everywhere(c, url)


# ----- the composition root hands the API the worker's policy ---------------------------


async def built_api(settings: Settings, dev: bool) -> tuple[runtime.Roles, httpx.AsyncClient]:
    roles = runtime.build_roles(settings, dev=dev)
    assert roles.api is not None and roles.sender is not None
    await roles.store.open()
    app = roles.api.config.app
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    client = httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)
    await create_app_record(client, uid="acme")
    return roles, client


async def create_status(client: httpx.AsyncClient, url: str) -> int:
    return (await client.post(APP, json={"url": url})).status_code


@pytest.mark.parametrize(
    ("env", "dev", "allowed", "refused"),
    [
        ({}, False, [], ["http://127.1/", "http://10.0.0.1/"]),
        ({}, True, ["http://127.1/", "http://localhost/"], ["http://10.0.0.1/"]),
        (
            {"HOOKLINE_ALLOW_LOOPBACK_TARGETS": "true"},
            False,
            ["http://[::1]/"],
            ["http://10.0.0.1/"],
        ),
        (
            {"HOOKLINE_ALLOWED_SUBNETS": "10.0.0.0/8"},
            False,
            ["http://10.0.0.1/", "http://012.1/"],
            ["http://127.1/", "http://192.168.0.1/"],
        ),
        (
            {"HOOKLINE_ALLOW_PRIVATE_TARGETS": "true"},
            False,
            ["http://127.1/", "http://10.0.0.1/", "http://[fd00::1]/"],
            [],
        ),
    ],
)
async def test_settings_and_dev_relax_the_api_as_they_relax_the_worker(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    dev: bool,
    allowed: list[str],
    refused: list[str],
) -> None:
    for name in ("ALLOW_PRIVATE_TARGETS", "ALLOW_LOOPBACK_TARGETS", "ALLOWED_SUBNETS"):
        monkeypatch.delenv(f"HOOKLINE_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=tmp_path, api_token=TOKEN)
    roles, client = await built_api(settings, dev)
    try:
        assert roles.api is not None
        served = roles.api.config.app
        context = getattr(served, "app", served).state.context  # behind the intake app
        assert context.address_policy == runtime.address_policy(settings, dev)
        for url in allowed:
            assert await create_status(client, url) == 201, url
        for url in refused:
            assert await create_status(client, url) == 422, url
    finally:
        await client.aclose()
        await roles.store.close()
