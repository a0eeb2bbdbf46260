"""Races the store must settle: updates from a stale read, results under a lost lease.

Interleavings are driven step by step through the store's own verbs (two reads, then two
writes; a claim, an expired lease, a second claim), so every run takes the losing path.
"""

from __future__ import annotations

import pytest
from test_store_contract import NOW, claim_due, make_app, make_endpoint, message, result_for

from hookline.breaker import HealthPolicy
from hookline.errors import VersionConflict
from hookline.models import OPERATIONAL_APP_ID, DeliveryResult, DeliveryStatus, DeliveryTask
from hookline.signing import generate_secret
from hookline.store.base import AttemptFilter, MessageFilter, PageRequest, Store

EAGER_EVENTS = HealthPolicy(failing_event_after=1)  # the first failure already reports


def outcome(task: DeliveryTask, ok: bool, retry_at: int | None = None) -> DeliveryResult:
    """The task's outcome, carrying the lease it was claimed under."""
    return result_for(
        task.delivery_id, task.msg_id, task.endpoint_id, task.app_id, ok, retry_at, task.lease_until
    )


async def test_rotation_and_patch_from_one_read_cannot_both_win(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    rotating = await store.get_endpoint(app.id, ep.id)
    patching = await store.get_endpoint(app.id, ep.id)
    new_key = generate_secret()
    rotating.rotate_secret(new_key, 0, NOW)
    await store.update_endpoint(rotating)
    patching.description = "patched"
    with pytest.raises(VersionConflict):
        await store.update_endpoint(patching)
    stored = await store.get_endpoint(app.id, ep.id)
    assert stored.secret == new_key and stored.description == ""


async def test_worker_disable_is_not_undone_by_an_update_read_before_it(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    await store.publish(message(app), NOW)
    stale = await store.get_endpoint(app.id, ep.id)
    [task] = await claim_due(store, "w", 10, NOW, 60_000)
    gone = outcome(task, ok=False)
    gone.disable_endpoint = True
    await store.record_results("w", [gone], NOW, HealthPolicy())
    disabled = await store.get_endpoint(app.id, ep.id)
    assert disabled.disabled and disabled.version > stale.version
    stale.description = "patched"
    with pytest.raises(VersionConflict):
        await store.update_endpoint(stale)
    assert (await store.get_endpoint(app.id, ep.id)).disabled


async def test_application_updates_from_one_read_cannot_both_win(store: Store) -> None:
    app = await make_app(store)
    renaming = await store.get_application(app.id)
    tagging = await store.get_application(app.id)
    renaming.name = "renamed"
    await store.update_application(renaming)
    tagging.metadata = {"team": "billing"}
    with pytest.raises(VersionConflict):
        await store.update_application(tagging)
    stored = await store.get_application(app.id)
    assert stored.name == "renamed" and stored.metadata == {}
    assert stored.version == renaming.version + 1


async def attempts_and_events(store: Store, app_id: str, msg_id: str) -> tuple[int, int]:
    attempts = await store.list_attempts(
        app_id, AttemptFilter(), PageRequest(limit=50), msg_id=msg_id
    )
    events = await store.list_messages(
        OPERATIONAL_APP_ID,
        MessageFilter(event_types=["message.attempt.failing", "message.attempt.exhausted"]),
        PageRequest(limit=50),
    )
    return len(attempts.data), len(events.data)


async def test_result_under_a_lost_lease_is_dropped(store: Store) -> None:
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    published = await store.publish(message(app), NOW)
    [lost] = await claim_due(store, "A", 10, NOW, 1000)
    [current] = await claim_due(store, "B", 10, NOW + 1001, 60_000)
    assert current.delivery_id == lost.delivery_id

    dropped = await store.record_results(
        "A", [outcome(lost, ok=False, retry_at=NOW + 5000)], NOW + 1500, EAGER_EVENTS
    )
    assert dropped == 1
    assert await attempts_and_events(store, app.id, published.message.id) == (0, 0)
    stats = await store.endpoint_stats(ep.id, NOW + 1500)
    assert stats.failure_streak == 0 and stats.failing_since is None and stats.sending == 1

    fresh = await store.record_results("B", [outcome(current, ok=True)], NOW + 2000, EAGER_EVENTS)
    assert fresh == 0
    [delivery] = await store.list_deliveries(app.id, published.message.id)
    assert delivery.status is DeliveryStatus.SUCCESS and delivery.attempts == 1
    assert await attempts_and_events(store, app.id, published.message.id) == (1, 0)


async def test_same_owner_reclaim_fences_its_own_earlier_lease(store: Store) -> None:
    """The owner alone cannot tell two leases apart: a worker may reclaim its own row."""
    app = await make_app(store)
    ep = await make_endpoint(store, app)
    published = await store.publish(message(app), NOW)
    [first] = await claim_due(store, "A", 10, NOW, 1000)
    [second] = await claim_due(store, "A", 10, NOW + 1001, 60_000)

    late = await store.record_results(
        "A", [outcome(first, ok=False, retry_at=NOW + 5000)], NOW + 1500, EAGER_EVENTS
    )
    assert late == 1
    assert await attempts_and_events(store, app.id, published.message.id) == (0, 0)
    assert (await store.endpoint_stats(ep.id, NOW + 1500)).failure_streak == 0

    fresh = await store.record_results("A", [outcome(second, ok=False)], NOW + 2000, EAGER_EVENTS)
    assert fresh == 0
    [delivery] = await store.list_deliveries(app.id, published.message.id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 1
    assert await attempts_and_events(store, app.id, published.message.id) == (1, 1)
    assert (await store.endpoint_stats(ep.id, NOW + 2000)).failure_streak == 1
