"""Races the store must settle: updates from a stale read.

Interleavings are driven step by step through the store's own verbs (two reads, then two
writes), so every run takes the losing path.
"""

from __future__ import annotations

import pytest
from test_store_contract import NOW, claim_due, make_app, make_endpoint, message, result_for

from hookline.breaker import HealthPolicy
from hookline.errors import VersionConflict
from hookline.models import DeliveryResult, DeliveryTask
from hookline.signing import generate_secret
from hookline.store.base import Store


def outcome(task: DeliveryTask, ok: bool, retry_at: int | None = None) -> DeliveryResult:
    return result_for(task.delivery_id, task.msg_id, task.endpoint_id, task.app_id, ok, retry_at)


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
