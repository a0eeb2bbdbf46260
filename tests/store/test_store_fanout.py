"""Background fan-out: a publish to many endpoints writes no deliveries; batches make them,
exactly one per subscribed endpoint, each batch committing with its cursor."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from raw_sql import RawSql
from test_store_contract import NOW, claim_due, make_app, make_endpoint, message
from test_store_filters import DOUBLING, PAYLOAD, assert_not_held_back

from hookline import ids
from hookline.delivery.fanout import Fanout, FanoutConfig
from hookline.errors import Conflict
from hookline.models import (
    Application,
    BackgroundTask,
    Endpoint,
    TaskKind,
    TaskParams,
    TaskStatus,
)
from hookline.store.base import Store

ENDPOINTS = 100


@pytest.fixture
def raw(tmp_path: Path, database_url: str | None) -> RawSql:
    return RawSql(tmp_path, database_url)


def pairs(raw: RawSql) -> Counter[tuple[str, str]]:
    return Counter((m, e) for m, e in raw.rows("SELECT msg_id, endpoint_id FROM delivery"))


def cursor_of(raw: RawSql, msg_id: str) -> tuple[str | None] | None:
    found = raw.rows("SELECT cursor FROM fanout WHERE msg_id = ?", (msg_id,))
    return (found[0][0],) if found else None


async def many_endpoints(store: Store, app: Application) -> tuple[list[Endpoint], set[str]]:
    """ENDPOINTS endpoints of every kind; returns them and the ids an ``invoice.paid``
    message on channel ``eu`` with ``{"a":1}`` must reach."""
    made: list[Endpoint] = []
    wanted: set[str] = set()
    for n in range(ENDPOINTS):
        kind = n % 6
        fields: dict[str, object] = {}
        if kind == 1:
            fields["event_types"] = ["user.created"]  # not subscribed
        elif kind == 2:
            fields["channels"] = ["eu"]
        elif kind == 3:
            fields["payload_filter"] = "a == `1`"
        elif kind == 4:
            fields["payload_filter"] = "a == `2`"  # filtered out
        elif kind == 5:
            fields["disabled"] = True
        ep = await make_endpoint(store, app, **fields)
        made.append(ep)
        if kind in (0, 2, 3):
            wanted.add(ep.id)
    return made, wanted


def refuse_insert(raw: RawSql, endpoint_id: str) -> None:
    """A trigger named ``refuse`` fails every delivery insert for the endpoint with a
    constraint error."""
    if raw.dialect == "sqlite":
        raw.run(
            "CREATE TRIGGER refuse BEFORE INSERT ON delivery"
            f" WHEN NEW.endpoint_id = '{endpoint_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        return
    raw.run(  # a database may be reused by the next test: replace, never duplicate
        "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END $$"
    )
    raw.run("DROP TRIGGER IF EXISTS refuse ON delivery")
    raw.run(
        "CREATE TRIGGER refuse BEFORE INSERT ON delivery FOR EACH ROW"
        f" WHEN (NEW.endpoint_id = '{endpoint_id}') EXECUTE FUNCTION refuse()"
    )


async def fan_out_all(store: Store, msg_id: str, batch: int) -> int:
    for batches in range(1, 200):
        if (await store.fan_out(msg_id, NOW, batch)).done:
            return batches
    raise AssertionError("the fan-out never ends")


async def test_a_publish_to_many_endpoints_writes_the_message_and_a_pending_fanout(
    store: Store, raw: RawSql
) -> None:
    app = await make_app(store)
    await many_endpoints(store, app)
    outcome = await store.publish(message(app, channels=["eu"]), NOW)
    assert outcome.created and outcome.background and outcome.deliveries == 0
    assert await store.pending_fanouts(10) == [outcome.message.id]
    assert pairs(raw) == Counter()
    assert cursor_of(raw, outcome.message.id) == (None,)


async def test_batches_make_one_delivery_per_subscribed_endpoint_that_existed(
    store: Store, raw: RawSql
) -> None:
    app = await make_app(store)
    _, wanted = await many_endpoints(store, app)
    msg = (await store.publish(message(app, channels=["eu"]), NOW)).message
    later = await make_endpoint(store, app, created_at=NOW + 1)  # after the publish
    batches = await fan_out_all(store, msg.id, 7)
    assert batches == len(range(0, 84, 7)) + 1  # 83 enabled endpoints, then the last step
    assert pairs(raw) == Counter({(msg.id, ep): 1 for ep in wanted})
    assert later.id not in {ep for _, ep in pairs(raw)}
    assert await store.pending_fanouts(10) == []
    assert cursor_of(raw, msg.id) is None
    claimed = await claim_due(store, "w", 10, NOW + 1, 1000)  # the endpoints are due
    assert {t.endpoint_id for t in claimed} == wanted


async def test_a_small_application_fans_out_inline(store: Store, raw: RawSql) -> None:
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(16)]
    await make_endpoint(store, app, disabled=True)  # not a candidate
    outcome = await store.publish(message(app), NOW)
    assert not outcome.background and outcome.deliveries == 16
    assert pairs(raw) == Counter({(outcome.message.id, ep.id): 1 for ep in eps})
    assert await store.pending_fanouts(10) == []


async def test_a_failed_batch_keeps_its_cursor_and_the_rest_follows_once(
    store: Store, raw: RawSql
) -> None:
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(40)]
    msg = (await store.publish(message(app), NOW)).message
    refuse_insert(raw, eps[35].id)  # the 4th batch of 10 fails in the database itself
    for _ in range(3):
        assert not (await store.fan_out(msg.id, NOW, 10)).done
    with pytest.raises(Conflict):  # RAISE(ABORT) is a constraint failure
        await store.fan_out(msg.id, NOW, 10)
    assert cursor_of(raw, msg.id) == (eps[29].id,)
    assert pairs(raw) == Counter({(msg.id, ep.id): 1 for ep in eps[:30]})
    raw.run("DROP TRIGGER refuse" + (" ON delivery" if raw.dialect == "postgresql" else ""))
    await fan_out_all(store, msg.id, 10)
    assert pairs(raw) == Counter({(msg.id, ep.id): 1 for ep in eps})


async def test_concurrent_batches_of_one_message_never_repeat_an_endpoint(
    store: Store, raw: RawSql
) -> None:
    """As two worker processes would: each batch reads the cursor under the write lock."""
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(60)]
    msg = (await store.publish(message(app), NOW)).message
    for _ in range(20):
        if not await store.pending_fanouts(1):
            break
        await asyncio.gather(*(store.fan_out(msg.id, NOW, 4) for _ in range(5)))
    assert pairs(raw) == Counter({(msg.id, ep.id): 1 for ep in eps})


async def test_deleting_the_application_or_retention_ends_a_pending_fanout(
    store: Store, raw: RawSql
) -> None:
    gone, kept = await make_app(store), await make_app(store)
    for app in (gone, kept):
        for _ in range(20):
            await make_endpoint(store, app)
    first = (await store.publish(message(gone), NOW)).message
    second = (await store.publish(message(kept), NOW)).message
    await store.delete_application(gone.id)
    assert await store.pending_fanouts(10) == [second.id]
    await store.purge_expired(ids.id_timestamp_ms(second.id) + 1, limit=100)
    assert await store.pending_fanouts(10) == []
    assert first.id and pairs(raw) == Counter()


async def test_replay_missing_leaves_a_pending_message_to_its_fanout(
    store: Store, raw: RawSql
) -> None:
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(20)]
    msg = (await store.publish(message(app), NOW)).message
    task = await store.create_task(
        BackgroundTask(
            id=ids.new_id("qtask"),
            kind=TaskKind.REPLAY,
            status=TaskStatus.RUNNING,
            app_id=app.id,
            endpoint_id=eps[5].id,
            params=TaskParams(since_ms=NOW - 1000, until_ms=NOW + 60_000),
            created_at=NOW,
            updated_at=NOW,
        )
    )
    assert (await store.advance_task(task.id, NOW, 100)).status is TaskStatus.FINISHED
    await fan_out_all(store, msg.id, 8)
    assert pairs(raw) == Counter({(msg.id, ep.id): 1 for ep in eps})


async def test_the_fanout_role_is_woken_by_a_publish_not_by_its_poll(
    store: Store, raw: RawSql
) -> None:
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(30)]
    role = Fanout(store, FanoutConfig(batch_size=5, poll_interval=60))
    running = asyncio.create_task(role.run())
    try:
        await asyncio.sleep(0.1)  # idle, waiting on its wake-up
        msg = (await store.publish(message(app), NOW)).message
        async with asyncio.timeout(10):  # a sixth of the poll interval
            while role.finished < 1:
                await asyncio.sleep(0.02)
    finally:
        role.stop()
        await running
    assert role.deliveries == len(eps)
    assert pairs(raw) == Counter({(msg.id, ep.id): 1 for ep in eps})


async def test_a_costly_filter_in_a_batch_holds_back_no_other_application(
    store: Store, raw: RawSql
) -> None:
    """A batch's filters run in a thread before its write, as a publish's do."""
    app = await make_app(store)
    plain = [await make_endpoint(store, app) for _ in range(17)]
    for name in "abc":  # three different costly expressions
        await make_endpoint(store, app, payload_filter=DOUBLING.replace("a", name, 1))
    msg = (await store.publish(message(app, payload=PAYLOAD), NOW)).message
    await assert_not_held_back(store, store.fan_out(msg.id, NOW, 50))
    assert pairs(raw)[(msg.id, plain[0].id)] == 1
    assert {ep for m, ep in pairs(raw) if m == msg.id} == {ep.id for ep in plain}


async def test_an_endpoint_disabled_before_its_batch_gets_nothing(
    store: Store, raw: RawSql
) -> None:
    """As at publish: the batch reaches the endpoints enabled when it runs."""
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(20)]
    msg = (await store.publish(message(app), NOW)).message
    off = await store.update_endpoint(replace(eps[3], disabled=True))
    await fan_out_all(store, msg.id, 50)
    assert set(pairs(raw)) == {(msg.id, ep.id) for ep in eps if ep.id != off.id}


async def test_the_role_fans_out_oldest_first_so_an_endpoints_line_is_publish_order(
    store: Store, raw: RawSql
) -> None:
    """A FIFO endpoint sends in delivery id order, and ids follow creation order."""
    app = await make_app(store)
    eps = [await make_endpoint(store, app) for _ in range(20)]
    published = [(await store.publish(message(app), NOW)).message.id for _ in range(6)]
    role = Fanout(store, FanoutConfig(batch_size=60, parallel=3))
    while await role.step():
        pass
    line = raw.rows("SELECT msg_id FROM delivery WHERE endpoint_id = ? ORDER BY id", (eps[7].id,))
    assert [m for (m,) in line] == published
    assert len(pairs(raw)) == 6 * 20
