"""A cluster on one PostgreSQL: 2 API processes and 3 workers deliver 20,000 messages to
20 endpoints while one worker is SIGKILLed and the database restarts. Nothing accepted is
lost, refused publishes are 503s, duplicates stay within what lost leases explain, and the
receiver's timing shows the in-flight caps, the throttle and FIFO held cluster-wide."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from cluster_kit import Cluster, Proc, distinct_errors
from cluster_receiver import (
    PathRule,
    TimingReceiver,
    by_path,
    count_deliveries,
    duplicated,
    first_arrival_order,
    max_open,
    out_of_order,
    outside,
    rate_excess,
)

from hookline.store import migrate
from hookline.store.postgres import sqlalchemy_url
from hookline.testing.postgres import PostgresServer

pytestmark = pytest.mark.e2e

APIS, WORKERS = 2, 3
TOTAL = 20_000
FIFO_N, FIFO_BURST = 300, 30
RATE, THROTTLED_N = 20, 400  # 19 s at the rate: long enough to span a fault
CAP, CAPPED_N = 2, 800
DEFAULT_CAP = 16  # HOOKLINE_ENDPOINT_MAX_IN_FLIGHT's default
TWO_ENDPOINTS = 0.4  # share of the other messages that match two endpoints
KILL_AT, RESTART_AT = 0.2, 0.5  # of the messages accepted
DOWN_S = 3.0
PUBLISHERS_PER_API = 8  # httpx's pool degrades with many requests in flight
CONCURRENCY = 32  # per worker: with the killed worker's, bounds the duplicates
LEASE_S = 5.0
STALL_S = 90.0  # no delivery for this long is a failure
OVERALL_S = 1800.0  # from the first publish: a bound for a stuck run, not a target

ENV = {
    "HOOKLINE_RETRY_SCHEDULE": "0.2,0.5,1,2,4,8",
    "HOOKLINE_POLL_INTERVAL": "0.2",
    "HOOKLINE_REQUEST_TIMEOUT": "3",
    "HOOKLINE_LEASE_SECONDS": str(LEASE_S),
    "HOOKLINE_WORKER_CONCURRENCY": str(CONCURRENCY),
    # the flaky endpoints fail first attempts on purpose: that must not open their breakers
    "HOOKLINE_BREAKER_THRESHOLD": "1000000",
}

# app "a": the special endpoints and a ring of ordinary ones; app "b": a ring of ten. Ten
# endpoints an application keeps its publishes on the inline fan-out (16 at most), so a
# FIFO endpoint's line is in publish order from the publish itself.
SPECIAL = {
    "fifo": ({"fifo": True}, PathRule(hold=0.01, flaky=True)),  # a retry keeps its place
    "throttled": ({"throttleRate": RATE}, PathRule(hold=0.002)),
    "capped": ({"maxInFlight": CAP}, PathRule(hold=0.02)),
}
RINGS = {
    "a": ["flaky", *(f"g{i}" for i in range(6))],
    "b": [f"g{i}" for i in range(6, 16)],
}


def rules() -> dict[str, PathRule]:
    out = {f"/{name}": rule for name, (_, rule) in SPECIAL.items()}
    for ring in RINGS.values():
        out |= {f"/{name}": PathRule(hold=0.002, flaky=name == "flaky") for name in ring}
    return out


def subscriptions() -> dict[str, tuple[str, list[str]]]:
    """Endpoint name -> (app, event types): ``one.X`` reaches X alone, ``two.X`` reaches
    X and the next in its ring."""
    subs = {name: ("a", [name]) for name in SPECIAL}
    for app, ring in RINGS.items():
        for i, name in enumerate(ring):
            subs[name] = (app, [f"one.{name}", f"two.{name}", f"two.{ring[i - 1]}"])
    return subs


@dataclass(frozen=True, slots=True)
class Job:
    key: str  # Idempotency-Key: a retried publish is the same publish
    app: str
    event_type: str
    payload: dict[str, Any]
    paths: tuple[str, ...]


def plan(seed: int = 10) -> tuple[list[Job], list[Job]]:
    """The concurrent publishes (throttled and capped first, so they queue up), and the
    FIFO endpoint's, published one after another."""
    rng = random.Random(seed)
    fifo = [
        Job(f"fifo-{n}", "a", "fifo", {"n": n, "fail": n % 5 == 2}, ("/fifo",))
        for n in range(FIFO_N)
    ]
    early = [
        Job(f"thr-{n}", "a", "throttled", {"n": n}, ("/throttled",)) for n in range(THROTTLED_N)
    ]
    early += [Job(f"cap-{n}", "a", "capped", {"n": n}, ("/capped",)) for n in range(CAPPED_N)]
    rng.shuffle(early)
    rest: list[Job] = []
    for n in range(TOTAL - len(fifo) - len(early)):
        app = "ab"[n % 2]
        ring = RINGS[app]
        i = rng.randrange(len(ring))
        payload = {"n": n, "fail": rng.random() < 0.5}
        if rng.random() < TWO_ENDPOINTS:
            paths = (f"/{ring[i]}", f"/{ring[(i + 1) % len(ring)]}")
            rest.append(Job(f"two-{n}", app, f"two.{ring[i]}", payload, paths))
        else:
            rest.append(Job(f"one-{n}", app, f"one.{ring[i]}", payload, (f"/{ring[i]}",)))
    return early + rest, fifo


@dataclass
class Publishing:
    """What the publishers saw: every answer that was not a plain 202 is counted."""

    accepted: dict[str, str] = field(default_factory=dict)  # job key -> message id
    refused_503: int = 0
    missing_retry_after: int = 0
    transport_errors: int = 0
    unexpected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.accepted)} published; 503s {self.refused_503}"
            f" ({self.missing_retry_after} without Retry-After),"
            f" transport errors {self.transport_errors}, other answers {self.unexpected[:3]}"
        )


async def publish(client: httpx.AsyncClient, app_id: str, job: Job, out: Publishing) -> str:
    """Until accepted, with the same Idempotency-Key, so a 503 whose commit landed is not
    published twice."""
    body = {"eventType": job.event_type, "payload": job.payload}
    headers = {"Idempotency-Key": job.key}
    while True:
        try:
            response = await client.post(f"/api/v1/app/{app_id}/msg", json=body, headers=headers)
        except httpx.TransportError:
            out.transport_errors += 1
            await asyncio.sleep(0.2)
            continue
        if response.status_code == 202:
            msg_id = str(response.json()["id"])
            out.accepted[job.key] = msg_id
            return msg_id
        if response.status_code == 503:
            out.refused_503 += 1
            retry_after = response.headers.get("retry-after")
            if retry_after is None:
                out.missing_retry_after += 1
            await asyncio.sleep(min(float(retry_after or 1), 2.0))
            continue
        out.unexpected.append((response.status_code, response.text[:200]))
        assert len(out.unexpected) < 20, f"publishes failing: {out.unexpected[:3]}"
        await asyncio.sleep(0.2)


async def accepted(out: Publishing, count: float) -> None:
    """Until ``count`` publishes were accepted; failing if none is for STALL_S."""
    last, since = len(out.accepted), time.monotonic()
    while len(out.accepted) < count:
        if len(out.accepted) > last:
            last, since = len(out.accepted), time.monotonic()
        assert time.monotonic() - since < STALL_S, f"publishing stalled at {last}"
        await asyncio.sleep(0.05)


async def watch(procs: list[Proc]) -> None:
    """Fails as soon as a process that should be running has exited."""
    while True:
        exited = [f"{p.name} ({p.popen.returncode})" for p in procs if not p.alive()]
        assert not exited, f"exited: {exited}"
        await asyncio.sleep(0.5)


async def set_up(api: httpx.AsyncClient, rx: TimingReceiver) -> dict[str, str]:
    """The two applications and twenty endpoints (their secrets go to the receiver, which
    checks a few signatures per endpoint); the app ids."""
    apps: dict[str, str] = {}
    for app in ("a", "b"):
        response = await api.post("/api/v1/app", json={"name": f"cluster {app}"})
        assert response.status_code == 201, response.text
        apps[app] = response.json()["id"]
    for name, (app, event_types) in subscriptions().items():
        fields = SPECIAL[name][0] if name in SPECIAL else {}
        body = {"url": rx.url(f"/{name}"), "eventTypes": event_types, **fields}
        response = await api.post(f"/api/v1/app/{apps[app]}/endpoint", json=body)
        assert response.status_code == 201, response.text
        endpoint_id = response.json()["id"]
        response = await api.get(f"/api/v1/app/{apps[app]}/endpoint/{endpoint_id}/secret")
        rx.secrets[f"/{name}"] = response.json()["key"]
    return apps


async def wait_delivered(
    rx: TimingReceiver, expected: set[tuple[str, str]], procs: list[Proc]
) -> None:
    """Until every expected delivery was answered 2xx, failing if deliveries stop coming
    for STALL_S or a process that should run has exited; then until the receiver has
    been quiet for a lease, so late duplicates are counted too."""
    done: set[tuple[str, str]] = set()
    seen = 0
    last_progress = started = time.monotonic()
    while True:
        hits = rx.hits
        for hit in hits[seen:]:
            if hit.status < 300:
                done.add((hit.path, hit.msg_id))
        if len(hits) > seen:
            seen, last_progress = len(hits), time.monotonic()
        if expected <= done:
            break
        exited = [f"{p.name} ({p.popen.returncode})" for p in procs if not p.alive()]
        assert not exited, f"exited: {exited}"
        now = time.monotonic()
        assert now - last_progress < STALL_S, f"stalled at {len(expected & done)}/{len(expected)}"
        assert now - started < OVERALL_S, f"{len(expected & done)}/{len(expected)} delivered"
        await asyncio.sleep(0.5)
    quiet_since, seen = time.monotonic(), len(rx.hits)
    while time.monotonic() - quiet_since < LEASE_S + 2:
        await asyncio.sleep(0.5)
        if len(rx.hits) > seen:
            quiet_since, seen = time.monotonic(), len(rx.hits)


async def test_cluster_delivers_everything_through_a_worker_kill_and_a_database_restart(
    tmp_path: Path, own_postgres: PostgresServer
):
    pg = own_postgres  # a server of the test's own, since the test restarts it
    url = pg.create_database("cluster")
    migrate.upgrade(sqlalchemy_url(url))
    cluster = Cluster(tmp_path, url, ENV)
    out, rx = Publishing(), TimingReceiver(rules())
    try:
        async with rx:
            outcome = await run_cluster(cluster, rx, pg, out)
        check(outcome, cluster, rx, restarted=True)
    except BaseException:
        # captured output is shown with a failure: what each process said last
        print(f"{out.summary()}; {len(rx.hits)} requests received")  # noqa: T201
        print(cluster.report())  # noqa: T201
        print("--- postgresql errors ---\n" + distinct_errors(pg.server_log()))  # noqa: T201
        raise
    finally:
        await asyncio.to_thread(cluster.stop_all)


class Restartable(Protocol):
    def stop(self) -> None: ...
    def start(self) -> None: ...


@dataclass
class Outcome:
    out: Publishing
    expected: set[tuple[str, str]]
    fifo_order: list[str]
    killed: Proc
    # when a lease could be lost (monotonic): sends under way at the kill, or from a
    # lease before the database stopped until a lease after it is back
    lease_loss: list[tuple[float, float]]
    published_s: float
    delivered_s: float


async def run_cluster(
    cluster: Cluster, rx: TimingReceiver, database: Restartable | None, out: Publishing
) -> Outcome:
    """Start the processes, publish everything while killing a worker and restarting the
    database (if given), and wait until everything is delivered."""
    bulk, fifo_jobs = plan()
    apis = [cluster.start_api(f"api{i}") for i in range(APIS)]
    workers = [cluster.start_worker(f"worker{i}") for i in range(WORKERS)]
    await asyncio.to_thread(cluster.wait_ready)
    auth = {"Authorization": f"Bearer {cluster.token}"}
    limits = httpx.Limits(max_connections=PUBLISHERS_PER_API + 1)
    clients = [
        httpx.AsyncClient(base_url=p.base_url, headers=auth, timeout=15.0, limits=limits)
        for p in apis
    ]
    try:
        apps = await set_up(clients[0], rx)
        jobs = iter(bulk)
        fifo_order: list[str] = []
        lease_loss: list[tuple[float, float]] = []
        publishing_done = asyncio.Event()

        async def publisher(client: httpx.AsyncClient) -> None:
            for job in jobs:  # one shared iterator: each job is taken once
                await publish(client, apps[job.app], job, out)

        async def fifo_publisher() -> None:
            for n, job in enumerate(fifo_jobs):  # one at a time: publish order is known
                fifo_order.append(await publish(clients[n % APIS], apps["a"], job, out))
                # ids from two processes order by the millisecond; bursts spread over the
                # run queue up at the endpoint, where sending them together would show
                pause = n % FIFO_BURST == FIFO_BURST - 1 and not publishing_done.is_set()
                await asyncio.sleep(1.0 if pause else 0.002)

        async def faults() -> None:
            await accepted(out, KILL_AT * TOTAL)
            workers[0].popen.kill()
            lease_loss.append((time.monotonic() - LEASE_S, time.monotonic() + 1))
            await accepted(out, RESTART_AT * TOTAL)
            if database is not None:
                down = time.monotonic()
                await asyncio.to_thread(database.stop)
                await asyncio.sleep(DOWN_S)
                await asyncio.to_thread(database.start)
                lease_loss.append((down - LEASE_S, time.monotonic() + LEASE_S))

        async def bulk_publishers() -> None:
            await asyncio.gather(
                *(publisher(clients[i % APIS]) for i in range(APIS * PUBLISHERS_PER_API))
            )
            publishing_done.set()

        started = time.monotonic()
        survivors = [p for p in cluster.procs if p is not workers[0]]
        work = asyncio.gather(bulk_publishers(), fifo_publisher(), faults())
        watcher = asyncio.create_task(watch(survivors))
        await asyncio.wait([work, watcher], return_when=asyncio.FIRST_COMPLETED)
        if watcher.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            watcher.result()  # raises: a process exited
        watcher.cancel()
        await work
        published_s = time.monotonic() - started
        expected = {
            (path, out.accepted[job.key]) for job in [*bulk, *fifo_jobs] for path in job.paths
        }
        await wait_delivered(rx, expected, survivors)
        delivered_s = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()
    return Outcome(out, expected, fifo_order, workers[0], lease_loss, published_s, delivered_s)


def check(outcome: Outcome, cluster: Cluster, rx: TimingReceiver, *, restarted: bool) -> None:
    out = outcome.out
    hits = list(rx.hits)
    paths = by_path(hits)
    counted = count_deliveries(hits, outcome.expected)
    bound = (WORKERS + 1) * CONCURRENCY
    print(  # noqa: T201 (shown with -s, and with a failure)
        f"cluster: {out.summary()}; in {outcome.published_s:.0f}s;"
        f" {len(outcome.expected)} deliveries in {outcome.delivered_s:.0f}s"
        f" ({len(hits)} requests), duplicates {counted.duplicates} (<= {bound})"
    )

    # publishing: the outage was seen as 503s with Retry-After, never a 500
    assert out.unexpected == []
    if restarted:
        assert out.refused_503 > 0, "publishes during the outage must be refused with 503"
    assert out.missing_retry_after == 0
    assert len(set(out.accepted.values())) == TOTAL, "each publish is one message"
    # processes: only the killed worker is gone
    assert [p.name for p in cluster.procs if not p.alive()] == [outcome.killed.name]
    # deliveries: every accepted message reached every matching endpoint, and only those
    assert counted.missing == [], f"{len(counted.missing)} missing, e.g. {counted.missing[:3]}"
    assert counted.unexpected == [], f"misrouted: {counted.unexpected[:3]}"
    # duplicates: only of sends whose lease a fault could have taken, and no more of them
    # than could have been in flight
    assert counted.duplicates <= bound
    unexplained = outside(duplicated(hits), outcome.lease_loss)
    assert unexplained == [], f"{len(unexplained)} duplicates no fault explains: {unexplained[:3]}"
    assert [s for s in rx.samples if s.error is not None] == []
    assert {s.path for s in rx.samples} == set(rules())

    # limits, from the receiver's timing, across every worker
    caps = {"/capped": CAP, "/fifo": 1}
    peaks = {path: max_open(path_hits) for path, path_hits in paths.items()}
    assert {p: n for p, n in peaks.items() if n > caps.get(p, DEFAULT_CAP)} == {}
    assert peaks["/capped"] == CAP, "the cap was never reached: the check would show nothing"
    starts = [h.start for h in paths["/throttled"]]
    assert rate_excess(starts, RATE, windows=(1, 2, 5, 10), slack_s=0.5) == []
    assert max(starts) - min(starts) >= 0.5 * (THROTTLED_N - RATE) / RATE
    # FIFO: first attempts in publish order, and each delivered before the next is sent
    wrong = out_of_order(first_arrival_order(paths["/fifo"]), outcome.fifo_order)
    assert wrong == [], f"FIFO order broken at {wrong}"
    delivered = first_arrival_order(h for h in paths["/fifo"] if h.status < 300)
    wrong = out_of_order(delivered, outcome.fifo_order)
    assert wrong == [], f"FIFO delivered out of order at {wrong}"
