"""The handler registry: which handlers run, in what order, and once per delivery id,
on the memory store and on the SQLAlchemy table (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from hookline.integrations.sqlalchemy import SqlAlchemyIdempotencyStore
from hookline.receive import (
    IdempotencyStore,
    MemoryIdempotencyStore,
    VerifiedEvent,
    WebhookHandlers,
)


def event(event_type: str, event_id: str | None = "msg_1") -> VerifiedEvent:
    return VerifiedEvent(event_type=event_type, dedup_key=event_id, payload=b"{}")


def recording(handlers: WebhookHandlers, calls: list[str], *patterns: str) -> None:
    for pattern in patterns:
        handlers.on(pattern)(lambda e, p=pattern: calls.append(p))


def test_exact_matches_run_before_prefixes_each_in_registration_order() -> None:
    handlers = WebhookHandlers()
    calls: list[str] = []
    recording(handlers, calls, "*", "invoice.*", "invoice.paid", "invoice.pa*", "invoice.paid")
    recording(handlers, calls, "invoice", "invoices.*", "invoice.paid.late")
    handlers.dispatch(event("invoice.paid"))
    assert calls == ["invoice.paid", "invoice.paid", "*", "invoice.*", "invoice.pa*"]
    calls.clear()
    handlers.dispatch(event("invoice", "msg_2"))
    assert calls == ["invoice", "*"]  # "invoice.*" wants the dot


@pytest.mark.parametrize("pattern", ["", "*.paid", "invoice.*.x", "**"])
def test_a_star_may_only_end_a_pattern(pattern: str) -> None:
    with pytest.raises(ValueError):
        WebhookHandlers().on(pattern)


def test_the_same_id_runs_the_handlers_once_and_another_id_again() -> None:
    handlers = WebhookHandlers()
    calls: list[str] = []
    recording(handlers, calls, "invoice.paid", "*")
    first = handlers.dispatch(event("invoice.paid"))
    again = handlers.dispatch(event("invoice.paid"))
    other = handlers.dispatch(event("invoice.paid", "msg_2"))
    assert (first.duplicate, first.handled) == (False, 2)
    assert (again.duplicate, again.handled) == (True, 0)
    assert not other.duplicate
    assert calls == ["invoice.paid", "*"] * 2


def test_an_event_without_an_id_runs_every_time() -> None:
    handlers = WebhookHandlers()
    calls: list[str] = []
    recording(handlers, calls, "*")
    for _ in range(2):
        handlers.dispatch(event("ping", None))
    assert calls == ["*", "*"]


def test_a_failing_handler_releases_the_id_so_the_retry_runs() -> None:
    handlers = WebhookHandlers()
    calls: list[str] = []
    failures = [RuntimeError("database down")]

    @handlers.on("invoice.paid")
    def flaky(e: VerifiedEvent) -> None:
        calls.append("flaky")
        if failures:
            raise failures.pop()

    recording(handlers, calls, "invoice.*")
    with pytest.raises(RuntimeError):
        handlers.dispatch(event("invoice.paid"))
    assert calls == ["flaky"]  # later handlers did not run
    assert handlers.dispatch(event("invoice.paid")).handled == 2  # the retry
    assert handlers.dispatch(event("invoice.paid")).duplicate
    assert calls == ["flaky", "flaky", "invoice.*"]


async def test_async_handlers_are_awaited_and_claims_released_on_failure() -> None:
    handlers = WebhookHandlers()
    calls: list[str] = []
    fail = [True]

    @handlers.on("a.*")
    async def first(e: VerifiedEvent) -> None:
        await asyncio.sleep(0)
        calls.append("async")
        if fail:
            fail.clear()
            raise RuntimeError("once")

    recording(handlers, calls, "*")
    with pytest.raises(RuntimeError):
        await handlers.adispatch(event("a.b"))
    assert (await handlers.adispatch(event("a.b"))).handled == 2
    assert (await handlers.adispatch(event("a.b"))).duplicate
    assert calls == ["async", "async", "*"]


def test_sync_dispatch_refuses_an_async_handler_before_claiming() -> None:
    handlers = WebhookHandlers()

    @handlers.on("a")
    async def handler(e: VerifiedEvent) -> None: ...

    for _ in range(2):  # the id stays unclaimed
        with pytest.raises(TypeError):
            handlers.dispatch(event("a"))


def test_namespaces_keep_registries_on_one_store_apart() -> None:
    store = MemoryIdempotencyStore()
    stripe, github = WebhookHandlers(store, namespace="stripe"), WebhookHandlers(store)
    calls: list[str] = []
    recording(stripe, calls, "*")
    recording(github, calls, "*")
    assert not stripe.dispatch(event("x")).duplicate
    assert not github.dispatch(event("x")).duplicate
    assert stripe.key(event("x", "i" * 300)) == stripe.key(event("x", "i" * 300))
    assert len(stripe.key(event("x", "i" * 300)) or "") <= 256


def test_memory_claims_expire_and_are_bounded() -> None:
    now = [0.0]
    store = MemoryIdempotencyStore(ttl_seconds=10, max_keys=3, clock=lambda: now[0])
    assert store.claim("a") and not store.claim("a")
    now[0] = 9.9
    assert not store.claim("a")
    now[0] = 10.0
    assert store.claim("a")  # expired, claimed again
    for key in "bcd":
        assert store.claim(key)
    assert len(store) == 3
    assert store.claim("a")  # the oldest was forgotten to make room


@pytest.fixture
def engine(database_url: str | None, tmp_path: Path) -> Engine:
    if database_url is None:
        return create_engine(f"sqlite:///{tmp_path / 'claims.db'}")
    return create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))


def test_sql_store_claims_once_and_releases(engine: Engine) -> None:
    store = SqlAlchemyIdempotencyStore(engine, table_name="webhook_claims")
    SqlAlchemyIdempotencyStore(engine, table_name="webhook_claims")  # finds its table
    assert store.claim("k") and not store.claim("k")
    store.release("k")
    assert store.claim("k")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_claims")).scalar() == 1
    assert store.prune(3600) == 0 and store.prune(-1) == 1
    engine.dispose()


def test_sql_store_racing_threads_have_one_winner(engine: Engine) -> None:
    """Each thread plays a process: its own store object and its own connection."""
    rounds, threads = 5, 4
    stores: list[IdempotencyStore] = [SqlAlchemyIdempotencyStore(engine) for _ in range(threads)]
    wins: list[list[bool]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def race(store: IdempotencyStore) -> None:
        try:
            for n in range(rounds):
                barrier.wait(timeout=10)
                wins[n].append(store.claim(f"key-{n}"))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=race, args=(s,)) for s in stores]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    engine.dispose()
    assert errors == []
    assert [sorted(w) for w in wins] == [[False] * (threads - 1) + [True]] * rounds


def test_registry_on_the_sql_store_runs_once_across_registries(engine: Engine) -> None:
    calls: list[str] = []
    processes = [WebhookHandlers(SqlAlchemyIdempotencyStore(engine)) for _ in range(2)]
    for handlers in processes:
        recording(handlers, calls, "invoice.*")
    assert [h.dispatch(event("invoice.paid")).duplicate for h in processes] == [False, True]
    assert calls == ["invoice.*"]
    engine.dispose()
