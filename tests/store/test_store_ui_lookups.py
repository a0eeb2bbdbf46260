"""The store verbs the dashboard's lists and the test-event action need, on both backends:
searching applications and endpoints, and a publish delivered to one endpoint only."""

from __future__ import annotations

import time

import pytest

from hookline import ids
from hookline.errors import Conflict, NotFound
from hookline.models import Application, Endpoint, Message
from hookline.signing import generate_secret
from hookline.store.base import PageRequest, Store

NOW = int(time.time() * 1000)


async def app_named(store: Store, name: str, uid: str | None = None) -> Application:
    return await store.create_application(
        Application(id=ids.new_id("app"), name=name, uid=uid, created_at=NOW, updated_at=NOW)
    )


async def endpoint(store: Store, app: Application, url: str, **kw: object) -> Endpoint:
    return await store.create_endpoint(
        Endpoint(
            id=ids.new_id("ep"),
            app_id=app.id,
            url=url,
            secret=generate_secret(),
            created_at=NOW,
            updated_at=NOW,
            **kw,  # type: ignore[arg-type]
        )
    )


async def every_page(store: Store, search: str, limit: int) -> list[str]:
    names: list[str] = []
    page = PageRequest(limit=limit)
    while True:
        got = await store.list_applications(page, search=search)
        names += [a.name for a in got.data]
        if got.done:
            return names
        page = PageRequest(limit=limit, iterator=got.iterator)


async def test_application_search_by_name_uid_and_id_across_pages(store: Store) -> None:
    made = [await app_named(store, f"Acme {i}", uid=f"acme-{i}") for i in range(7)]
    others = [await app_named(store, f"Globex {i}") for i in range(5)]
    # a name substring, any case, every match once across pages of 2
    assert await every_page(store, "aCmE", 2) == [a.name for a in made]
    assert await every_page(store, "globex", 3) == [a.name for a in others]
    # a uid, and an id, exactly
    assert await every_page(store, "acme-3", 10) == ["Acme 3"]
    assert await every_page(store, others[2].id, 10) == ["Globex 2"]
    assert await every_page(store, "initech", 10) == []
    # no search lists everything
    page = await store.list_applications(PageRequest(limit=100))
    assert len(page.data) == 12


async def test_search_wildcards_are_literal(store: Store) -> None:
    await app_named(store, "100% real")
    await app_named(store, "1000 real")
    await app_named(store, "a_b")
    await app_named(store, "axb")
    assert await every_page(store, "0%", 10) == ["100% real"]
    assert await every_page(store, "a_b", 10) == ["a_b"]
    assert await every_page(store, "!", 10) == []


async def test_endpoint_search_by_url_and_description_within_one_app(store: Store) -> None:
    app = await app_named(store, "one")
    other = await app_named(store, "two")
    billing = await endpoint(store, app, "http://127.0.0.1:9/Billing", description="money")
    orders = await endpoint(store, app, "http://127.0.0.1:9/orders", description="Shop BILLING")
    plain = await endpoint(store, app, "http://127.0.0.1:9/plain", uid="plain-uid")
    await endpoint(store, other, "http://127.0.0.1:9/billing")

    async def found(search: str, limit: int = 10) -> list[str]:
        seen: list[str] = []
        page = PageRequest(limit=limit)
        while True:
            got = await store.list_endpoints(app.id, page, search=search)
            seen += [e.id for e in got.data]
            if got.done:
                return seen
            page = PageRequest(limit=limit, iterator=got.iterator)

    assert await found("billing", limit=1) == [billing.id, orders.id]
    assert await found("MONEY") == [billing.id]
    assert await found("plain-uid") == [plain.id]
    assert await found(orders.id) == [orders.id]
    assert await found("nothing") == []


async def test_publish_to_endpoint_delivers_to_that_endpoint_only(store: Store) -> None:
    app = await app_named(store, "one")
    target = await endpoint(store, app, "http://127.0.0.1:9/a", event_types=["other.type"])
    sibling = await endpoint(store, app, "http://127.0.0.1:9/b")  # subscribed to everything
    msg = Message(
        id=ids.new_id("msg", NOW),
        app_id=app.id,
        event_type="svix.ping",
        payload=b'{"data":{"success":true},"type":"svix.ping"}',
        created_at=NOW,
    )
    outcome = await store.publish_to_endpoint(msg, target.id, NOW)
    assert outcome.created and outcome.deliveries == 1
    deliveries = await store.list_deliveries(app.id, msg.id)
    assert [d.endpoint_id for d in deliveries] == [target.id]
    assert sibling.id not in {d.endpoint_id for d in deliveries}
    assert (await store.get_message(app.id, msg.id)).payload == msg.payload
    # and it is due now
    ready = await store.ready_endpoints(NOW + 1, limit=10)
    assert [r.endpoint_id for r in ready] == [target.id]


@pytest.mark.parametrize("case", ["other-app", "disabled", "unknown"])
async def test_publish_to_endpoint_refuses_and_writes_nothing(store: Store, case: str) -> None:
    app = await app_named(store, "one")
    other = await app_named(store, "two")
    owner = other if case == "other-app" else app
    target = await endpoint(store, owner, "http://127.0.0.1:9/a", disabled=case == "disabled")
    msg = Message(id=ids.new_id("msg", NOW), app_id=app.id, event_type="svix.ping", payload=b"{}")
    ep_id = "ep_unknown" if case == "unknown" else target.id
    with pytest.raises(Conflict if case == "disabled" else NotFound):
        await store.publish_to_endpoint(msg, ep_id, NOW)
    with pytest.raises(NotFound):
        await store.get_message(app.id, msg.id)
