"""Property tests: whatever a client sends, the API never answers 5xx.

Schemathesis walks every operation of the app's own OpenAPI document (valid and invalid
data alike) and sends each case to a real app on a fresh SQLite store. Examples per
operation are few and derandomized so CI runs are short and repeatable.

The document is taken from ``app.openapi()`` at import time (building it touches no
store), because ``schemathesis.pytest.from_fixture`` 4.32 breaks on pytest 9: it reads
``request.node._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from api_helpers import TOKEN, make_settings
from hypothesis import HealthCheck, settings

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.store.base import Store

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Any]:
    """A sync fixture: schemathesis drives the ASGI app through its own test client.

    The store is opened and closed with ``asyncio.run``; its SQLite threads are not tied
    to an event loop, so the client's loop can use it in between.
    """
    store = runtime.open_store(make_settings(tmp_path))
    asyncio.run(store.open())
    app = create_app(ApiContext(store=store, admin_token=TOKEN))
    try:
        yield app
    finally:
        asyncio.run(store.close())


_DOC = create_app(ApiContext(store=cast(Store, None), admin_token=TOKEN)).openapi()
schema = schemathesis.openapi.from_dict(_DOC)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx(case: schemathesis.Case, live_app: Any) -> None:
    response = case.call(app=live_app, headers=AUTH)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("code"), str), body
        assert "detail" in body, body
        if response.status_code == 422:
            assert isinstance(body["detail"], list), body
