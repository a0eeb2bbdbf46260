"""A publish is written to the application its path names, and only that one.

``application`` in the body may create the path's application on first use (Svix's
SDK relies on it), but it must never redirect the message into another application.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from api_helpers import assert_error, create_app_record, list_all


def publish_body(**application: Any) -> dict[str, Any]:
    return {"eventType": "a.b", "payload": {"n": 1}, "application": application}


# A plain publish takes the fast path; an extra query parameter falls through to FastAPI.
QUERIES = [pytest.param("", id="fast-path"), pytest.param("?unused=1", id="fastapi-route")]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("by", ["uid", "id"])
async def test_a_body_naming_another_app_is_422_and_writes_nothing(
    client: httpx.AsyncClient, query: str, by: str
) -> None:
    other = await create_app_record(client, uid="other")
    resp = await client.post(
        f"/api/v1/app/ghost/msg{query}", json=publish_body(name="x", uid=other[by])
    )
    assert assert_error(resp, 422)["code"] == "validation"
    assert await list_all(client, "/api/v1/app/other/msg") == []
    assert [a["uid"] for a in await list_all(client, "/api/v1/app")] == ["other"]


@pytest.mark.parametrize("query", QUERIES)
async def test_an_existing_path_app_with_a_mismatched_body_is_422(
    client: httpx.AsyncClient, query: str
) -> None:
    await create_app_record(client, uid="acme")
    await create_app_record(client, uid="other")
    resp = await client.post(
        f"/api/v1/app/acme/msg{query}", json=publish_body(name="x", uid="other")
    )
    assert_error(resp, 422)
    for uid in ("acme", "other"):
        assert await list_all(client, f"/api/v1/app/{uid}/msg") == []


@pytest.mark.parametrize("query", QUERIES)
async def test_a_body_naming_the_path_app_creates_it_or_uses_it(
    client: httpx.AsyncClient, query: str
) -> None:
    created = await client.post(
        f"/api/v1/app/fresh/msg{query}", json=publish_body(name="Fresh", uid="fresh")
    )
    assert created.status_code == 202, created.text
    app = (await client.get("/api/v1/app/fresh")).json()
    assert app["name"] == "Fresh"
    # The same application named by its id in the path and by its uid in the body.
    again = await client.post(
        f"/api/v1/app/{app['id']}/msg{query}", json=publish_body(name="Fresh", uid="fresh")
    )
    assert again.status_code == 202, again.text
    assert len(await list_all(client, "/api/v1/app/fresh/msg")) == 2
    assert len(await list_all(client, "/api/v1/app")) == 1


async def test_an_unknown_app_id_in_the_path_is_not_created_elsewhere(
    client: httpx.AsyncClient,
) -> None:
    """An id cannot be chosen, so a new application would not be the one the path names."""
    resp = await client.post(
        "/api/v1/app/app_0000000000000000000000000000/msg", json=publish_body(name="x")
    )
    assert_error(resp, 404)
    assert await list_all(client, "/api/v1/app") == []
