"""The event type's new fields and verbs on SQLite and PostgreSQL: groupName,
featureFlags and the retry schedule stored, carried by a claim, and an import in one
write that keeps what it does not set."""

from __future__ import annotations

from dataclasses import replace

from test_store_contract import NOW, claim_due, make_app, make_endpoint, message

from hookline.models import EventType
from hookline.store.base import PageRequest, Store


def et(name: str, **kw: object) -> EventType:
    return replace(EventType(name=name, created_at=NOW, updated_at=NOW), **kw)


async def test_new_fields_round_trip(store: Store) -> None:
    made = et("a.b", group_name="g", feature_flags=["x", "y"], retry_schedule=[0.5, 60.0])
    await store.create_event_type(made)
    assert await store.get_event_type("a.b") == made
    [listed] = (await store.list_event_types(PageRequest(limit=10), False)).data
    assert listed == made
    assert await store.all_event_types(include_archived=False) == [made]


async def test_a_claim_carries_its_event_types_schedule(store: Store) -> None:
    await store.create_event_type(et("slow.type", retry_schedule=[1.5, 30.0]))
    app = await make_app(store)
    await make_endpoint(store, app)
    await store.publish(message(app, "slow.type"), NOW)
    await store.publish(message(app, "other.type"), NOW)
    tasks = await claim_due(store, "w1", 10, NOW, 60_000)
    schedules = {t.event_type: t.retry_schedule for t in tasks}
    assert schedules == {"slow.type": (1.5, 30.0), "other.type": None}


async def test_import_keeps_creation_and_schedule_and_archives_the_rest(store: Store) -> None:
    await store.create_event_type(et("kept", description="old", retry_schedule=[9.0]))
    await store.create_event_type(et("same", description="s"))
    await store.create_event_type(et("other"))
    later = NOW + 1000
    found = [
        et("kept", description="new", created_at=later, updated_at=later),
        et("same", description="s", created_at=later, updated_at=later),
        et("fresh", group_name="g", created_at=later, updated_at=later),
    ]
    dry = await store.import_event_types(found, True, True, later)
    assert sorted(dry) == ["fresh", "kept", "other"]
    assert [e.name for e in await store.all_event_types(False)] == ["kept", "other", "same"]

    changed = await store.import_event_types(found, True, False, later)
    assert sorted(changed) == ["fresh", "kept", "other"]
    kept = await store.get_event_type("kept")
    assert (kept.description, kept.created_at, kept.retry_schedule) == ("new", NOW, [9.0])
    assert (await store.get_event_type("same")).updated_at == NOW  # untouched
    assert (await store.get_event_type("other")).archived is True
    assert (await store.get_event_type("fresh")).group_name == "g"
