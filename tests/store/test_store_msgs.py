"""Scheduled sends, expunge, where messages went, tags and the precheck, on every backend:
through the store's own verbs, with the rows read back in plain SQL where it matters."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from raw_sql import RawSql
from test_store_contract import NOW, claim_due, make_app, make_endpoint, message

from hookline import ids
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.errors import NotFound
from hookline.models import (
    BackgroundTask,
    DeliveryStatus,
    ErrorKind,
    TaskKind,
    TaskParams,
    TaskStatus,
)
from hookline.runtime import open_store
from hookline.store.base import AttemptFilter, MessageFilter, PageRequest, Store
from hookline.testing.results import final_result

POLICY = HealthPolicy()
PAGE = PageRequest(limit=50, reverse=True)
LATER = NOW + 60_000


@pytest.fixture
def raw(tmp_path: Path, database_url: str | None) -> RawSql:
    return RawSql(tmp_path, database_url)


async def deliver_all(
    store: Store, at: int, status: int = 200, body: str = "", kind: ErrorKind | None = None
) -> list[str]:
    """Claim every due delivery at ``at`` and record one final outcome each."""
    tasks = await claim_due(store, "w", 100, at, 60_000)
    results = []
    for task in tasks:
        result = final_result(
            task,
            ok=200 <= status < 300,
            duration_ms=5,
            at_ms=at,
            response_status=status,
            error_kind=kind,
        )
        result.attempt.response_body = body
        results.append(result)
    assert await store.record_results("w", results, at, POLICY) == 0
    return [r.attempt.id for r in results]


# ----- deliverAt ------------------------------------------------------------------------


async def test_deliver_at_holds_every_delivery_until_then(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    await make_endpoint(store, app)
    held = (await store.publish(message(app, deliver_at=LATER), NOW)).message
    past = (await store.publish(message(app, deliver_at=NOW - 5_000), NOW)).message
    assert (await store.get_message(app.id, held.id)).deliver_at == LATER
    due = {d.next_attempt_at for d in await store.list_deliveries(app.id, held.id)}
    assert due == {LATER}
    assert {d.next_attempt_at for d in await store.list_deliveries(app.id, past.id)} == {NOW}
    now = {t.msg_id for t in await claim_due(store, "w", 100, NOW + 1_000, 600_000)}
    assert now == {past.id}
    later = [t.msg_id for t in await claim_due(store, "w", 100, LATER, 600_000)]
    assert later == [held.id, held.id]


async def test_deliver_at_holds_a_background_fan_out_too(store: Store) -> None:
    app = await make_app(store)
    for _ in range(17):  # past the inline fan-out
        await make_endpoint(store, app)
    outcome = await store.publish(message(app, deliver_at=LATER), NOW)
    assert outcome.background
    while not (await store.fan_out(outcome.message.id, NOW, 10)).done:
        pass
    due = {d.next_attempt_at for d in await store.list_deliveries(app.id, outcome.message.id)}
    assert due == {LATER}
    assert await claim_due(store, "w", 100, NOW + 1_000, 30_000) == []


# ----- expunge --------------------------------------------------------------------------


async def test_expunge_drops_the_payload_everywhere_and_cancels_waiting_sends(
    store: Store, raw: RawSql
) -> None:
    app, other = await make_app(store), await make_app(store)
    first, second = await make_endpoint(store, app), await make_endpoint(store, app)
    msg = (await store.publish(message(app, event_id="evt-1"), NOW)).message
    kept = (await store.publish(message(app), NOW)).message
    ready = [r for r in await store.ready_endpoints(NOW, limit=10) if r.endpoint_id == first.id]
    [in_flight] = await store.claim("w", [(ready[0], 1)], NOW, 30_000, 100)
    assert in_flight.msg_id == msg.id
    raw.run(
        "INSERT INTO inbound_request (id, source_id, method, path, query, headers, body,"
        " verdict, status_code, msg_id, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            ids.new_id("req"),
            "src_x",
            "POST",
            "/",
            "",
            "{}",
            b'{"a":1}',
            "accepted",
            200,
            msg.id,
            NOW,
        ),
    )
    raw.run(
        "INSERT INTO fanout (msg_id, app_id, cursor, created_at) VALUES (?,?,NULL,?)",
        (msg.id, app.id, NOW),
    )

    await store.expunge_message(app.id, "evt-1")  # by eventId, as every message route
    await store.expunge_message(app.id, msg.id)  # again: nothing changes

    assert raw.rows("SELECT payload FROM message WHERE id = ?", (msg.id,)) == [(None,)]
    assert raw.rows("SELECT body FROM inbound_request WHERE msg_id = ?", (msg.id,)) == [(None,)]
    assert raw.rows("SELECT 1 FROM fanout WHERE msg_id = ?", (msg.id,)) == []
    assert (await store.get_message(app.id, kept.id)).payload == b'{"a":1}'
    states = {
        d.endpoint_id: (d.status, d.next_attempt_at)
        for d in await store.list_deliveries(app.id, msg.id)
    }
    assert states[second.id] == (DeliveryStatus.CANCELED, None)
    assert states[first.id][0] is DeliveryStatus.SENDING  # in flight: it holds its payload
    assert {t.msg_id for t in await claim_due(store, "w", 100, NOW + 40_000, 30_000)} == {kept.id}
    with pytest.raises(NotFound):
        await store.expunge_message(other.id, msg.id)


async def test_expunge_attempt_content_keeps_the_attempt(store: Store, raw: RawSql) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    msg = (await store.publish(message(app), NOW)).message
    [attempt_id] = await deliver_all(store, NOW, body="card 4242")
    await store.expunge_attempt_content(app.id, msg.id, attempt_id)
    await store.expunge_attempt_content(app.id, msg.id, attempt_id)
    attempt = await store.get_attempt(app.id, msg.id, attempt_id)
    assert attempt.response_body == "" and attempt.response_status == 200
    assert raw.rows("SELECT response_body FROM attempt") == [("",)]
    with pytest.raises(NotFound):
        await store.expunge_attempt_content(app.id, "msg_other", attempt_id)


async def test_bulk_expunge_answers_per_reference(store: Store, raw: RawSql) -> None:
    app, other = await make_app(store), await make_app(store)
    a = (await store.publish(message(app, event_id="evt-a"), NOW)).message
    b = (await store.publish(message(app), NOW)).message
    c = (await store.publish(message(app), NOW)).message
    foreign = (await store.publish(message(other), NOW)).message
    found = await store.bulk_expunge(app.id, ["evt-a", b.id, "msg_missing", foreign.id])
    assert found == {"evt-a": True, b.id: True, "msg_missing": False, foreign.id: False}
    payloads = dict(raw.rows("SELECT id, payload IS NULL FROM message"))
    assert {k: bool(v) for k, v in payloads.items()} == {
        a.id: True,
        b.id: True,
        c.id: False,
        foreign.id: False,
    }


async def test_expunge_all_runs_in_chunks_and_another_runner_resumes(
    store: Store, raw: RawSql, tmp_path: Path, database_url: str | None
) -> None:
    app, other = await make_app(store), await make_app(store)
    msgs = [(await store.publish(message(app), NOW)).message for _ in range(5)]
    await store.expunge_message(app.id, msgs[2].id)  # already gone: not counted again
    foreign = (await store.publish(message(other), NOW)).message
    task = await store.create_task(
        BackgroundTask(
            id=ids.new_id("qtask"),
            kind=TaskKind.PURGE_CONTENT,
            status=TaskStatus.RUNNING,
            app_id=app.id,
            endpoint_id=None,
            params=TaskParams(since_ms=0, until_ms=int(time.time() * 1000) + 1),
            created_at=NOW,
            updated_at=NOW,
        )
    )
    await asyncio.sleep(0.01)  # ids are time-ordered: this one is past the task's range
    after = (await store.publish(message(app), NOW)).message
    step = await store.advance_task(task.id, NOW, 2)
    assert (step.status, step.cursor, step.done_count) == (TaskStatus.RUNNING, msgs[1].id, 2)
    # the runner dies between chunks; another process's store carries on from the rows
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    again = open_store(settings, migrated=True)
    await again.open()
    try:
        assert (await again.get_task(task.id)).cursor == msgs[1].id
        while (await again.advance_task(task.id, NOW, 2)).status is TaskStatus.RUNNING:
            pass
        done = await again.get_task(task.id)
        assert (done.status, done.done_count) == (TaskStatus.FINISHED, 4)
    finally:
        await again.close()
    gone = {r[0] for r in raw.rows("SELECT id FROM message WHERE payload IS NULL")}
    assert gone == {m.id for m in msgs}
    assert foreign.id not in gone and after.id not in gone


# ----- where messages went ----------------------------------------------------------------


async def test_attempted_lists_show_the_latest_delivery_per_pair(store: Store) -> None:
    app = await make_app(store)
    ep1 = await make_endpoint(store, app)
    ep2 = await make_endpoint(store, app, event_types=["invoice.paid"])
    m1 = (await store.publish(message(app, tags=["t1"]), NOW)).message
    m2 = (await store.publish(message(app, "user.created", channels=["eu"]), NOW)).message
    await deliver_all(store, NOW)
    await store.resend(app.id, m1.id, ep1.id, NOW + 10)  # the latest delivery: pending

    async def to_ep1(flt: MessageFilter | None = None, status=None):  # type: ignore[no-untyped-def]
        flt = flt or MessageFilter()
        page = await store.list_attempted_messages(app.id, ep1.id, flt, status, PAGE)
        return [(m.id, a.status, a.next_attempt_at) for m, a in page.data]

    assert await to_ep1() == [
        (m2.id, DeliveryStatus.SUCCESS, None),
        (m1.id, DeliveryStatus.PENDING, NOW + 10),
    ]
    assert await to_ep1(status=DeliveryStatus.SUCCESS) == [(m2.id, DeliveryStatus.SUCCESS, None)]
    assert [r[0] for r in await to_ep1(MessageFilter(tag="t1"))] == [m1.id]
    assert [r[0] for r in await to_ep1(MessageFilter(tag="t2"))] == []
    assert [r[0] for r in await to_ep1(MessageFilter(channel="eu"))] == [m2.id]
    assert [r[0] for r in await to_ep1(MessageFilter(event_types=["invoice.paid"]))] == [m1.id]
    ep2_page = await store.list_attempted_messages(app.id, ep2.id, MessageFilter(), None, PAGE)
    assert [m.id for m, _ in ep2_page.data] == [m1.id]

    page = await store.list_attempted_destinations(app.id, m1.id, PageRequest(limit=50))
    got = [(e.id, a.status) for e, a in page.data]
    assert got == sorted([(ep1.id, DeliveryStatus.PENDING), (ep2.id, DeliveryStatus.SUCCESS)])
    page = await store.list_attempted_destinations(app.id, m2.id, PageRequest(limit=50))
    assert [e.id for e, _ in page.data] == [ep1.id]


async def test_tag_and_status_code_class_filters(store: Store) -> None:
    app = await make_app(store)
    await make_endpoint(store, app)
    tagged = (await store.publish(message(app, tags=["blue", "x/y#1"]), NOW)).message
    plain = (await store.publish(message(app), NOW)).message
    await deliver_all(store, NOW, 204)
    [a_ok] = [
        a.id for a in (await store.list_attempts(app.id, AttemptFilter(), PAGE, tagged.id)).data
    ]
    [b_ok] = [
        a.id for a in (await store.list_attempts(app.id, AttemptFilter(), PAGE, plain.id)).data
    ]
    await store.resend(
        app.id, tagged.id, (await store.list_deliveries(app.id, tagged.id))[0].endpoint_id, NOW + 1
    )
    [a_5xx] = await deliver_all(store, NOW + 1, 503)
    await store.resend(
        app.id, plain.id, (await store.list_deliveries(app.id, plain.id))[0].endpoint_id, NOW + 2
    )
    [b_none] = await deliver_all(store, NOW + 2, 0, kind=ErrorKind.CONNECTION_REFUSED)

    async def msgs(tag: str) -> list[str]:
        return [
            m.id for m in (await store.list_messages(app.id, MessageFilter(tag=tag), PAGE)).data
        ]

    assert await msgs("blue") == [tagged.id]
    assert await msgs("x/y#1") == [tagged.id]
    assert await msgs("blu") == []

    async def attempts(**kw: object) -> set[str]:
        page = await store.list_attempts(app.id, AttemptFilter(**kw), PAGE)  # type: ignore[arg-type]
        return {a.id for a in page.data}

    assert await attempts(tag="blue") == {a_ok, a_5xx}
    assert await attempts(status_code_class=200) == {a_ok, b_ok}
    assert await attempts(status_code_class=500) == {a_5xx}
    assert await attempts(status_code_class=0) == {b_none}
    assert await attempts(status_code_class=400) == set()
    assert await attempts(tag="blue", status_code_class=500) == {a_5xx}
    with_msgs = await store.messages_by_id(app.id, [tagged.id, "msg_missing"])
    assert list(with_msgs) == [tagged.id] and with_msgs[tagged.id].tags == ["blue", "x/y#1"]


async def test_precheck_uses_the_fan_out_subscription_rule(store: Store) -> None:
    app, other = await make_app(store), await make_app(store)
    await make_endpoint(store, app, event_types=["a.created"])
    await make_endpoint(store, app, event_types=["b.created"], disabled=True)
    await make_endpoint(store, app, event_types=["c.created"], channels=["eu"])
    await make_endpoint(store, other, event_types=["d.created"])
    assert await store.has_active_endpoint(app.id, "a.created", None)
    assert await store.has_active_endpoint(app.id, "a.created", ["us"])
    assert not await store.has_active_endpoint(app.id, "b.created", None)  # disabled
    assert not await store.has_active_endpoint(app.id, "c.created", None)
    assert not await store.has_active_endpoint(app.id, "c.created", ["us"])
    assert await store.has_active_endpoint(app.id, "c.created", ["us", "eu"])
    assert not await store.has_active_endpoint(app.id, "d.created", None)  # another app's
