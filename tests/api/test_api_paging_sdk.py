"""The official svix SDK (2.9.1, unchanged) pages both ways against a real server on
127.0.0.1, and sees Svix's answers for headers, rotation and the application filter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from live_server import svix_sdk
from svix.api import (
    ApplicationIn,
    ApplicationListOptions,
    EndpointHeadersIn,
    EndpointIn,
    EndpointListOptions,
    EndpointSecretRotateIn,
    MessageIn,
    MessageListOptions,
    Ordering,
    SvixAsync,
)
from svix.exceptions import HTTPValidationError

from hookline.store.base import Store


@pytest.fixture
async def svix(store: Store) -> AsyncIterator[SvixAsync]:
    async with svix_sdk(store) as client:
        yield client


List = Callable[[str | None], Awaitable[Any]]


async def both_ways(fetch: List) -> tuple[list[str], list[str]]:
    """Ids forward with ``iterator``, then back from the last page with ``prevIterator``."""
    pages = [await fetch(None)]
    while not pages[-1].done:
        pages.append(await fetch(pages[-1].iterator))
    back = [pages[-1]]
    while (before := await fetch(back[0].prev_iterator)).data:
        back.insert(0, before)
        assert len(back) <= len(pages), "the walk back does not end"
        if before.done:
            break
    return [i.id for p in pages for i in p.data], [i.id for p in back for i in p.data]


async def test_sdk_lists_page_both_ways_in_svix_orders(svix: SvixAsync) -> None:
    apps = [(await svix.application.create(ApplicationIn(name=f"a{n}"))).id for n in range(5)]
    for order, expected in ((None, sorted(apps)), (Ordering.DESCENDING, sorted(apps)[::-1])):
        forward, back = await both_ways(
            lambda it, order=order: svix.application.list(
                ApplicationListOptions(limit=2, iterator=it, order=order)
            )
        )
        assert forward == back == expected, order

    app = apps[0]
    eps = [
        (await svix.endpoint.create(app, EndpointIn(url=f"https://example.com/{n}"))).id
        for n in range(4)
    ]
    forward, back = await both_ways(
        lambda it: svix.endpoint.list(app, EndpointListOptions(limit=3, iterator=it))
    )
    assert forward == back == sorted(eps, reverse=True)  # Svix lists endpoints newest first
    forward, _ = await both_ways(
        lambda it: svix.endpoint.list(
            app, EndpointListOptions(limit=3, iterator=it, order=Ordering.ASCENDING)
        )
    )
    assert forward == sorted(eps)

    msgs = [
        (await svix.message.create(app, MessageIn(event_type="a.b", payload={"n": n}))).id
        for n in range(5)
    ]
    forward, back = await both_ways(
        lambda it: svix.message.list(app, MessageListOptions(limit=2, iterator=it))
    )
    assert forward == back == sorted(msgs, reverse=True)

    with pytest.raises(HTTPValidationError):
        await svix.application.list(ApplicationListOptions(iterator=eps[0]))


async def test_sdk_sees_sensitive_headers_rotation_and_the_app_filter(svix: SvixAsync) -> None:
    app = (await svix.application.create(ApplicationIn(name="with"))).id
    empty = (await svix.application.create(ApplicationIn(name="without"))).id
    ep = (await svix.endpoint.create(app, EndpointIn(url="https://example.com/h"))).id
    await svix.endpoint.set_headers(
        app, ep, EndpointHeadersIn(headers={"Authorization": "Bearer t0k3n", "X-Team": "a"})
    )
    headers = await svix.endpoint.get_headers(app, ep)
    assert headers.headers == {"X-Team": "a"} and headers.sensitive == ["Authorization"]

    old = (await svix.endpoint.get_secret(app, ep)).key
    # the SDK parses the new key from the answer (docs/svix-compatibility.md: not 204)
    rotated = await svix.endpoint.rotate_secret(app, ep, EndpointSecretRotateIn())
    assert rotated.key != old
    assert (await svix.endpoint.get_secret(app, ep)).key == rotated.key

    kept = await svix.application.list(ApplicationListOptions(exclude_apps_with_no_endpoints=True))
    assert [a.id for a in kept.data] == [app]
    listed = await svix.application.list(ApplicationListOptions())
    assert {a.id for a in listed.data} == {app, empty}
