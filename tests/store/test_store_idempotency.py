"""The store contract for Idempotency-Key rows: reserve, save, replay, expire."""

from __future__ import annotations

from test_store_contract import NOW

from hookline.store.base import IDEMPOTENCY_TTL_MS, MessageRef, Store, StoredResponse

HOUR_MS = 3600 * 1000


async def save(store: Store, key: str, now_ms: int, body: bytes = b"{}") -> None:
    assert await store.begin_idempotent(key, now_ms) is None
    await store.save_idempotent_response(key, StoredResponse(status=201, body=body), now_ms)


async def test_a_saved_response_is_replayed_within_its_window(store: Store) -> None:
    await save(store, "k", NOW, b'{"id":"app_1"}')
    replay = await store.begin_idempotent("k", NOW + IDEMPOTENCY_TTL_MS - 1)
    assert replay == StoredResponse(status=201, body=b'{"id":"app_1"}')
    assert await store.begin_idempotent("k", NOW + IDEMPOTENCY_TTL_MS) is None  # reusable


async def test_a_message_reference_round_trips_without_a_body(store: Store) -> None:
    ref = MessageRef(app_id="app_1", msg_id="msg_1", with_content=False)
    assert await store.begin_idempotent("k", NOW) is None
    await store.save_idempotent_response("k", StoredResponse(status=202, message=ref), NOW)
    assert await store.get_idempotent_response("k", NOW) == StoredResponse(202, message=ref)
    assert await store.begin_idempotent("k", NOW + 1) == StoredResponse(202, message=ref)


async def test_keys_past_their_window_are_deleted_in_bounded_batches(store: Store) -> None:
    for n in range(5):
        await save(store, f"old-{n}", NOW - 2 * IDEMPOTENCY_TTL_MS + n)
    assert await store.begin_idempotent("abandoned", NOW - IDEMPOTENCY_TTL_MS - 1) is None
    await save(store, "edge", NOW - IDEMPOTENCY_TTL_MS)
    await save(store, "fresh", NOW - HOUR_MS)
    assert await store.begin_idempotent("running", NOW) is None

    deleted = [await store.expire_idempotency_keys(NOW, limit=2) for _ in range(5)]
    assert deleted == [2, 2, 2, 1, 0]
    for key in [f"old-{n}" for n in range(5)] + ["abandoned", "edge"]:
        assert await store.get_idempotent_response(key, NOW - 3 * IDEMPOTENCY_TTL_MS) is None
    assert await store.get_idempotent_response("fresh", NOW) == StoredResponse(201, b"{}")
    assert await store.get_idempotent_response("running", NOW) == StoredResponse(0, b"")
