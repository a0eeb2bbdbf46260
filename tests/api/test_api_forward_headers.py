"""forwardHeaders: which original headers of a received request an endpoint passes on."""

from __future__ import annotations

import httpx
import pytest
from api_helpers import assert_error, create_app_record, list_all

URL = "https://example.com/hook"


async def test_forward_headers_round_trip(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    created = await client.post(
        base, json={"url": URL, "forwardHeaders": ["X-GitHub-Event", "x-github-event", "X-Hook"]}
    )
    assert created.status_code == 201, created.text
    ep = created.json()
    assert ep["forwardHeaders"] == ["x-github-event", "x-hook"]
    got = await client.get(f"{base}/{ep['id']}")
    assert got.json()["forwardHeaders"] == ["x-github-event", "x-hook"]
    patched = await client.patch(f"{base}/{ep['id']}", json={"description": "d"})
    assert patched.json()["forwardHeaders"] == ["x-github-event", "x-hook"]
    patched = await client.patch(f"{base}/{ep['id']}", json={"forwardHeaders": ["X-Other"]})
    assert patched.json()["forwardHeaders"] == ["x-other"]
    cleared = await client.patch(f"{base}/{ep['id']}", json={"forwardHeaders": None})
    assert cleared.json()["forwardHeaders"] is None
    put = await client.put(f"{base}/{ep['id']}", json={"url": URL, "forwardHeaders": ["a-b"]})
    assert put.json()["forwardHeaders"] == ["a-b"]


@pytest.mark.parametrize(
    "names",
    [
        ["bad name"],
        ["x-ok", "colon:"],
        [""],
        ["x" * 257],
        [f"x-h{i}" for i in range(51)],
        ["webhook-signature"],
        ["Host"],
        ["content-length"],
        ["Transfer-Encoding"],
        "x-not-a-list",
    ],
)
async def test_bad_forward_headers_are_422_and_write_nothing(
    client: httpx.AsyncClient, names: object
) -> None:
    app = await create_app_record(client)
    base = f"/api/v1/app/{app['id']}/endpoint"
    assert_error(await client.post(base, json={"url": URL, "forwardHeaders": names}), 422)
    assert await list_all(client, base) == []
    ep = (await client.post(base, json={"url": URL, "forwardHeaders": ["x-kept"]})).json()
    assert_error(await client.patch(f"{base}/{ep['id']}", json={"forwardHeaders": names}), 422)
    assert (await client.get(f"{base}/{ep['id']}")).json()["forwardHeaders"] == ["x-kept"]


async def test_fifty_names_are_accepted(client: httpx.AsyncClient) -> None:
    app = await create_app_record(client)
    names = [f"x-h{i}" for i in range(50)]
    resp = await client.post(
        f"/api/v1/app/{app['id']}/endpoint", json={"url": URL, "forwardHeaders": names}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["forwardHeaders"] == names
