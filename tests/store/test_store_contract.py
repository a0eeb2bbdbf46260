"""The store contract: the behaviour every backend must share."""

from __future__ import annotations

import asyncio
import time

import pytest

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.errors import Conflict, NotFound
from hookline.models import (
    Application,
    Attempt,
    DeliveryResult,
    DeliveryStatus,
    DeliveryTask,
    Endpoint,
    EventType,
    Message,
    OldSecret,
    TriggerType,
)
from hookline.signing import generate_secret
from hookline.store.base import AttemptFilter, MessageFilter, PageRequest, Store

NOW = int(time.time() * 1000)
POLICY = HealthPolicy()


async def record(store: Store, owner: str, results: list[DeliveryResult], now_ms: int) -> None:
    await store.record_results(owner, results, now_ms, POLICY)


async def claim_due(
    store: Store, owner: str, limit: int, now_ms: int, lease_ms: int
) -> list[DeliveryTask]:
    """Claim up to ``limit`` due deliveries per endpoint, with no default in-flight cap."""
    ready = await store.ready_endpoints(now_ms, limit=100)
    plan = [(r, limit) for r in ready]
    tasks = await store.claim(owner, plan, now_ms, lease_ms, default_max_in_flight=10_000)
    return tasks


async def make_app(store: Store, uid: str | None = None) -> Application:
    return await store.create_application(
        Application(id=ids.new_id("app"), name="acme", uid=uid, created_at=NOW, updated_at=NOW)
    )


async def make_endpoint(store: Store, app: Application, **kw: object) -> Endpoint:
    ep = Endpoint(
        id=ids.new_id("ep"),
        app_id=app.id,
        url="http://127.0.0.1:9/hook",
        secret=generate_secret(),
        created_at=NOW,
        updated_at=NOW,
    )
    for key, value in kw.items():
        setattr(ep, key, value)
    return await store.create_endpoint(ep)


def message(app: Application, event_type: str = "invoice.paid", **kw: object) -> Message:
    msg = Message(
        id=ids.new_id("msg"),
        app_id=app.id,
        event_type=event_type,
        payload=b'{"a":1}',
        created_at=NOW,
    )
    for key, value in kw.items():
        setattr(msg, key, value)
    return msg


def result_for(
    task_delivery: str,
    msg_id: str,
    ep_id: str,
    app_id: str,
    ok: bool,
    retry_at: int | None = None,
    lease_until: int = 0,
) -> DeliveryResult:
    """An outcome; it counts only with the lease (``lease_until``) its task was claimed under."""
    attempt = Attempt(
        id=ids.new_id("atmpt"),
        delivery_id=task_delivery,
        msg_id=msg_id,
        endpoint_id=ep_id,
        app_id=app_id,
        url="http://127.0.0.1:9/hook",
        status=DeliveryStatus.SUCCESS if ok else DeliveryStatus.FAILED,
        response_status=200 if ok else 500,
        response_body="",
        duration_ms=3,
        error_kind=None,
        trigger=TriggerType.SCHEDULED,
        created_at=NOW,
    )
    return DeliveryResult(attempt, next_attempt_at=retry_at, lease_until=lease_until)


async def test_application_lookup_by_id_and_uid(store: Store) -> None:
    app = await make_app(store, uid="acme")
    assert (await store.get_application(app.id)).id == app.id
    assert (await store.get_application("acme")).id == app.id
    with pytest.raises(NotFound):
        await store.get_application("nope")


async def test_duplicate_uid_conflicts_and_writes_nothing(store: Store) -> None:
    await make_app(store, uid="acme")
    with pytest.raises(Conflict):
        await make_app(store, uid="acme")
    page = await store.list_applications(PageRequest(limit=10))
    assert len(page.data) == 1


async def test_pagination_walks_every_item_once(store: Store) -> None:
    created = [await make_app(store) for _ in range(7)]
    seen: list[str] = []
    page = PageRequest(limit=3)
    while True:
        result = await store.list_applications(page)
        seen.extend(a.id for a in result.data)
        if result.done:
            break
        page = PageRequest(limit=3, iterator=result.iterator)
    assert seen == sorted(a.id for a in created)


async def test_publish_fans_out_to_matching_endpoints_only(store: Store) -> None:
    app = await make_app(store)
    everything = await make_endpoint(store, app)
    invoices = await make_endpoint(store, app, event_types=["invoice.paid"])
    orders = await make_endpoint(store, app, event_types=["order.created"])
    eu_only = await make_endpoint(store, app, channels=["eu"])
    await make_endpoint(store, app, disabled=True)

    outcome = await store.publish(message(app, channels=["eu", "us"]), NOW)
    deliveries = await store.list_deliveries(app.id, outcome.message.id)
    assert {d.endpoint_id for d in deliveries} == {everything.id, invoices.id, eu_only.id}
    assert orders.id not in {d.endpoint_id for d in deliveries}
    assert all(d.status is DeliveryStatus.PENDING for d in deliveries)


async def test_duplicate_event_id_returns_the_first_message(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    first = await store.publish(message(app, event_id="evt-1"), NOW)
    second = await store.publish(message(app, event_id="evt-1"), NOW)
    assert first.created and not second.created
    assert second.message.id == first.message.id
    listed = await store.list_messages(app.id, MessageFilter(), PageRequest(limit=10))
    assert [m.id for m in listed.data] == [first.message.id]


async def test_message_filters(store: Store) -> None:
    app = await make_app(store)
    a = await store.publish(message(app, "a.b", channels=["x"], created_at=NOW - 5000), NOW)
    b = await store.publish(message(app, "c.d", created_at=NOW), NOW)
    newest_first = PageRequest(limit=10, reverse=True)

    async def ids_for(flt: MessageFilter) -> list[str]:
        return [m.id for m in (await store.list_messages(app.id, flt, newest_first)).data]

    assert await ids_for(MessageFilter()) == [b.message.id, a.message.id]
    assert await ids_for(MessageFilter(event_types=["c.d"])) == [b.message.id]
    assert await ids_for(MessageFilter(channel="x")) == [a.message.id]
    assert await ids_for(MessageFilter(before_ms=NOW - 1000)) == [a.message.id]
    assert await ids_for(MessageFilter(after_ms=NOW - 1000)) == [b.message.id]


async def test_claim_leases_and_results_are_recorded(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app, headers={"x-team": "billing"})
    published = await store.publish(message(app), NOW)

    tasks = await claim_due(store, "w1", 10, NOW, 60_000)
    assert len(tasks) == 1
    task = tasks[0]
    assert task.payload == b'{"a":1}' and task.url == ep.url
    assert task.headers == {"x-team": "billing"} and task.signing_keys == (ep.secret,)
    assert await claim_due(store, "w2", 10, NOW, 60_000) == []  # leased

    await record(
        store,
        "w1",
        [
            result_for(
                task.delivery_id,
                task.msg_id,
                ep.id,
                app.id,
                ok=False,
                retry_at=NOW + 5000,
                lease_until=task.lease_until,
            )
        ],
        NOW,
    )
    assert await claim_due(store, "w1", 10, NOW + 4000, 60_000) == []
    again = await claim_due(store, "w1", 10, NOW + 5000, 60_000)
    assert [t.attempts for t in again] == [1]
    ok = result_for(
        again[0].delivery_id, task.msg_id, ep.id, app.id, ok=True, lease_until=again[0].lease_until
    )
    await record(store, "w1", [ok], NOW)
    [delivery] = await store.list_deliveries(app.id, published.message.id)
    assert delivery.status is DeliveryStatus.SUCCESS and delivery.attempts == 2
    attempts = await store.list_attempts(
        app.id, AttemptFilter(), PageRequest(limit=10, reverse=True), msg_id=published.message.id
    )
    assert [a.status for a in attempts.data] == [DeliveryStatus.SUCCESS, DeliveryStatus.FAILED]


async def test_expired_lease_is_claimable_again(store: Store) -> None:
    """A worker that dies mid-send loses nothing: the lease runs out and another claims."""
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app), NOW)
    [first] = await claim_due(store, "dead-worker", 10, NOW, 1000)
    [second] = await claim_due(store, "w2", 10, NOW + 1001, 1000)
    assert second.delivery_id == first.delivery_id
    # the dead worker's late result must not override the new owner's lease
    late = result_for(
        first.delivery_id,
        first.msg_id,
        first.endpoint_id,
        app.id,
        ok=True,
        lease_until=first.lease_until,
    )
    await record(store, "dead-worker", [late], NOW)
    [delivery] = await store.list_deliveries(app.id, first.msg_id)
    assert delivery.status is DeliveryStatus.SENDING


async def test_concurrent_claimers_never_share_a_delivery(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    for _ in range(50):
        await store.publish(message(app), NOW)
    claimed: list[str] = []
    for _ in range(20):  # PostgreSQL passes over an endpoint another claim holds right now
        batches = await asyncio.gather(
            *(claim_due(store, f"w{i}", 7, NOW, 60_000) for i in range(10))
        )
        claimed += [t.delivery_id for batch in batches for t in batch]
        if len(claimed) >= 50:
            break
    assert len(claimed) == 50 and len(set(claimed)) == 50


async def test_disabled_endpoint_parks_deliveries_until_enabled(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    await store.publish(message(app), NOW)
    ep.disabled = True
    ep = await store.update_endpoint(ep)
    assert await claim_due(store, "w", 10, NOW, 60_000) == []
    ep.disabled = False
    ep.updated_at = NOW
    await store.update_endpoint(ep)
    assert len(await claim_due(store, "w", 10, NOW, 60_000)) == 1


async def test_gone_disables_endpoint(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    await store.publish(message(app), NOW)
    await store.publish(message(app), NOW)
    [task, _] = await claim_due(store, "w", 1, NOW, 60_000) + [None]
    assert task is not None
    gone = result_for(task.delivery_id, task.msg_id, ep.id, app.id, ok=False)
    await record(
        store, "w", [DeliveryResult(gone.attempt, None, True, lease_until=task.lease_until)], NOW
    )
    assert (await store.get_endpoint(app.id, ep.id)).disabled
    assert await claim_due(store, "w", 10, NOW, 60_000) == []


async def test_old_secrets_sign_until_they_expire(store: Store) -> None:
    app = await make_app(store)
    old, new = generate_secret(), generate_secret()
    await make_endpoint(
        store,
        app,
        secret=new,
        old_secrets=[OldSecret(old, NOW + 10_000), OldSecret(generate_secret(), NOW - 1)],
    )
    await store.publish(message(app), NOW)
    [task] = await claim_due(store, "w", 10, NOW, 60_000)
    assert task.signing_keys == (new, old)


async def test_resend_queues_a_manual_delivery(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    published = await store.publish(message(app), NOW)
    await store.resend(app.id, published.message.id, ep.id, NOW)
    tasks = await claim_due(store, "w", 10, NOW, 60_000)
    assert sorted(t.trigger for t in tasks) == [TriggerType.SCHEDULED, TriggerType.MANUAL]


async def test_event_types_archive_and_list(store: Store) -> None:
    await store.create_event_type(EventType(name="a.b", created_at=NOW, updated_at=NOW))
    await store.create_event_type(
        EventType(name="c.d", archived=True, created_at=NOW, updated_at=NOW)
    )
    with pytest.raises(Conflict):
        await store.create_event_type(EventType(name="a.b"))
    live = await store.list_event_types(PageRequest(limit=10), include_archived=False)
    every = await store.list_event_types(PageRequest(limit=10), include_archived=True)
    assert [e.name for e in live.data] == ["a.b"]
    assert [e.name for e in every.data] == ["a.b", "c.d"]


async def test_delete_application_removes_everything_it_owns(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    published = await store.publish(message(app), NOW)
    await store.delete_application(app.id)
    with pytest.raises(NotFound):
        await store.get_message(app.id, published.message.id)
    assert await claim_due(store, "w", 10, NOW, 60_000) == []
