"""Property tests: whatever a client sends, the API never answers 5xx.

A Hypothesis state machine plays a client: it starts from an application with an endpoint,
a message and a failed attempt, then calls any operation of the app's own OpenAPI document
with a request Schemathesis generates (valid or invalid data alike). Path parameters
usually name objects that exist (ids the machine created or saw), so every handler runs
past its 404 path; sometimes they are left as generated. Creations feed the machine, and
whenever a send is queued the machine records a failed attempt through the store as the
worker does, so attempt ids exist too. Each operation's share of 2xx answers is printed
(``-s``); the handlers that need existing objects must each succeed at least once. Every
2xx answer of an operation Svix defines must also match Svix's schema for it
(``svix_schema``), so Svix's SDKs parse whatever hookline answers. Runs are derandomized
so CI is repeatable.

The document is taken from ``app.openapi()`` at import time (building it touches no
store), because ``schemathesis.pytest.from_fixture`` 4.32 breaks on pytest 9: it reads
``request.node._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, cast

import schemathesis
from api_helpers import TOKEN, make_settings
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from schemathesis import GenerationMode
from svix_schema import svix_shape_errors

from hookline import runtime
from hookline.api import ApiContext, create_app
from hookline.breaker import HealthPolicy
from hookline.config import Settings
from hookline.delivery.sender import Outcome
from hookline.delivery.worker import decide
from hookline.retry import RetryPolicy
from hookline.store.base import Store

AUTH = {"Authorization": f"Bearer {TOKEN}"}
_DOC = create_app(ApiContext(store=cast(Store, None), admin_token=TOKEN)).openapi()
SCHEMA = schemathesis.openapi.from_dict(_DOC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
API = "/api/v1/app/{app_id}"
OPS = "/api/v1/operational-webhook/endpoint"
SOURCES = "/ingest/api/v1/source"
# Handlers that only ever answered 404 before the test knew valid ids: each must succeed.
MUST_SUCCEED = [
    ("GET", API + "/endpoint/{endpoint_id}"),
    ("PUT", API + "/endpoint/{endpoint_id}"),
    ("PATCH", API + "/endpoint/{endpoint_id}"),
    ("DELETE", API + "/endpoint/{endpoint_id}"),
    ("GET", API + "/endpoint/{endpoint_id}/secret"),
    ("POST", API + "/endpoint/{endpoint_id}/secret/rotate"),
    ("GET", API + "/endpoint/{endpoint_id}/headers"),
    ("PUT", API + "/endpoint/{endpoint_id}/headers"),
    ("PATCH", API + "/endpoint/{endpoint_id}/headers"),
    ("GET", API + "/endpoint/{endpoint_id}/stats"),
    ("GET", API + "/attempt/msg/{msg_id}"),
    ("GET", API + "/attempt/endpoint/{endpoint_id}"),
    ("GET", API + "/msg/{msg_id}/attempt/{attempt_id}"),
    ("POST", API + "/endpoint/{endpoint_id}/recover"),
    ("POST", API + "/endpoint/{endpoint_id}/replay-missing"),
    ("POST", API + "/endpoint/{endpoint_id}/bulk-replay"),
    ("POST", API + "/msg/{msg_id}/endpoint/{endpoint_id}/resend"),
]
VALID_FIELDS = {
    "url": "https://example.com/hook",
    "headers": {"X-Example": "1"},
    "filter": "data",
    # a generated date-time is as likely after now as before it: recover and replays
    # refuse a `since` in the future (422), so their own work would rarely run
    "since": "2024-01-01T00:00:00Z",
    "until": "2099-01-01T00:00:00Z",
}
# Each run walks its own shuffled order of every operation (those that need existing
# objects twice) once through, so every operation is called in every run.
MUST_LABELS = {f"{method} {path}" for method, path in MUST_SUCCEED}
MAX_EXAMPLES, STEPS = 8, len(OPERATIONS) + len(MUST_SUCCEED)
STATUSES: defaultdict[str, Counter[bool]] = defaultdict(Counter)  # label -> {is 2xx: n}
# label -> why a 2xx answer was not what Svix's schema says (first few of each)
NOT_SVIX_SHAPED: defaultdict[str, list[str]] = defaultdict(list)


def _strategy(operation: Any) -> st.SearchStrategy[Any]:
    modes = [GenerationMode.POSITIVE]
    if any(operation.iter_parameters()) or len(operation.body):  # else nothing to get wrong
        modes.append(GenerationMode.NEGATIVE)
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


STRATEGIES = {op.label: _strategy(op) for op in OPERATIONS}


async def fail_due_deliveries(store: Store) -> list[tuple[str, str, str]]:
    """What the worker does with a receiver that answers 500: claim every due delivery and
    record a failed attempt. Returns (app, message, attempt) ids."""
    now = int(time.time() * 1000)
    ready = await store.ready_endpoints(now, limit=100)
    plan = [(r, 100) for r in ready]
    tasks = await store.claim("property-test", plan, now, 60_000, default_max_in_flight=100)
    failed = Outcome(status=500, body="", duration_ms=1, error_kind=None, started_at_ms=now)
    results = [decide(task, failed, RetryPolicy((0.0,)), now) for task in tasks]
    await store.record_results("property-test", results, now, HealthPolicy())
    return [(r.attempt.app_id, r.attempt.msg_id, r.attempt.id) for r in results]


class ApiClient(RuleBasedStateMachine):
    """Each run starts on a fresh store, so what it draws depends on that run alone."""

    template = Path()  # a migrated, empty database, copied for each run
    runs = 0

    def __init__(self) -> None:
        super().__init__()
        ApiClient.runs += 1
        data_dir = self.template.parent / f"run{self.runs}"
        data_dir.mkdir()
        shutil.copy(self.template, data_dir / self.template.name)
        self.store = runtime.open_store(settings_for(data_dir))
        # The store's SQLite threads are not tied to an event loop, so the test client's
        # loop can use it between these.
        asyncio.run(self.store.open())
        self.app = create_app(ApiContext(store=self.store, admin_token=TOKEN))
        self.ids: defaultdict[str, list[str]] = defaultdict(list)  # kind -> ids seen
        self.owned: dict[str, str] = {}  # endpoint, message or attempt id -> its app id
        self.msg_of: dict[str, str] = {}  # attempt id -> its message id

    def call(self, case: Any) -> Any:
        response = case.call(app=self.app, headers=AUTH)
        where = f"{case.method} {case.formatted_path}"
        assert response.status_code < 500, f"{where} -> {response.status_code}: {response.text}"
        STATUSES[case.operation.label][200 <= response.status_code < 300] += 1
        if 200 <= response.status_code < 300:
            body = response.json() if response.content else None
            errors = svix_shape_errors(case.method, case.operation.path, response.status_code, body)
            if errors and len(NOT_SVIX_SHAPED[case.operation.label]) < 3:
                NOT_SVIX_SHAPED[case.operation.label].append(f"{where}: {errors}")
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body, dict) and isinstance(body.get("code"), str), (where, body)
            assert "detail" in body, (where, body)
            if response.status_code == 422:
                assert isinstance(body["detail"], list), (where, body)
        return response

    def remember(self, kind: str, value: Any, app_id: str | None = None) -> None:
        if isinstance(value, str) and value not in self.ids[kind]:
            self.ids[kind].append(value)
            if app_id is not None:
                self.owned[value] = app_id

    @initialize(rng=st.randoms(use_true_random=False))
    def some_of_everything(self, rng: random.Random) -> None:
        """An application with an endpoint, a message and a failed attempt to start from.

        Each run goes through every operation once, in its own shuffled order (Hypothesis's
        own choices favour the first few), those that need existing objects twice."""
        self.rng = rng
        self.order = OPERATIONS + [SCHEMA[path][method] for method, path in MUST_SUCCEED]
        rng.shuffle(self.order)
        self.steps = 0
        setup = [
            ("POST", "/api/v1/app", {}, {"name": "acme"}),
            ("POST", "/api/v1/event-type", {}, {"name": "user.created", "description": "d"}),
            ("POST", API + "/endpoint", {"app_id": None}, {"url": "https://example.com/h"}),
            ("POST", API + "/msg", {"app_id": None}, {"eventType": "user.created", "payload": {}}),
            ("POST", API + "/endpoint", {"app_id": None}, {"url": "poll://"}),
            ("POST", API + "/integration", {"app_id": None}, {"name": "zap"}),
            ("POST", "/api/v1/auth/api-token", {}, {"name": "deploys"}),
            ("POST", SOURCES, {}, {"name": "gh", "type": "github", "config": {"secret": "s3"}}),
        ]
        for method, path, params, body in setup:
            operation = SCHEMA[path][method]
            params = {name: self.ids["app"][-1] for name in params}
            case = operation.Case(path_parameters=params, body=body)
            response = self.call(case)
            assert response.status_code in (201, 202), response.text
            self.learn(case, response)
        self.deliver()

    def teardown(self) -> None:
        asyncio.run(self.store.close())

    def deliver(self) -> None:
        for app_id, msg_id, attempt_id in asyncio.run(fail_due_deliveries(self.store)):
            self.remember("attempt", attempt_id, app_id)
            self.msg_of[attempt_id] = msg_id

    @rule(data=st.data())
    def next_operation(self, data: st.DataObject) -> None:
        """Call the next operation in this run's order, with a generated request."""
        operation = self.order[self.steps % len(self.order)]
        self.steps += 1
        case = data.draw(STRATEGIES[operation.label])
        if self.rng.random() < 0.9:  # mostly ids that exist; now and then the generated ones
            self.use_known_ids(case)
            # a handler that must succeed gets a request it can act on more often
            if self.rng.random() < (0.8 if operation.label in MUST_LABELS else 0.5):
                self.tame(case)
        response = self.call(case)
        self.learn(case, response)
        if response.status_code == 202 and "/msg" in operation.path:  # a send was queued
            self.deliver()

    @staticmethod
    def tame(case: Any) -> None:
        """Leave out optional query parameters and make valid the body fields that the
        schema only calls "string", so that the handler's own work runs."""
        if case.query:
            required = {p.name for p in case.operation.query if p.is_required}
            case.query = {k: v for k, v in case.query.items() if k in required}
        if isinstance(case.body, dict):
            case.body.update((k, v) for k, v in VALID_FIELDS.items() if k in case.body)

    def use_known_ids(self, case: Any) -> None:
        """Put ids of existing objects into the path, consistent with each other."""
        params = case.path_parameters
        if not params:
            return

        def pick(kind: str, app: str | None = None) -> str | None:
            pool = [i for i in self.ids[kind] if app is None or self.owned.get(i) == app]
            return self.rng.choice(pool) if pool else None

        app_id = None
        if "attempt_id" in params and (attempt := pick("attempt")):
            params["attempt_id"], params["msg_id"] = attempt, self.msg_of[attempt]
            app_id = self.owned[attempt]
        elif "msg_id" in params and (msg := pick("msg")):
            params["msg_id"], app_id = msg, self.owned.get(msg)
        for name, kind in (("sink_id", "sink"), ("integ_id", "integration")):
            if name in params and (value := pick(kind, app_id)):
                params[name], app_id = value, app_id or self.owned.get(value)
        if "consumer_id" in params:
            params["consumer_id"] = "consumer-1"
        if "endpoint_id" in params:
            operational = case.operation.path.startswith(OPS)
            if endpoint := pick("op-endpoint" if operational else "endpoint", app_id):
                params["endpoint_id"], app_id = endpoint, app_id or self.owned.get(endpoint)
        if "app_id" in params and (app := app_id or pick("app")):
            params["app_id"] = app
        for name, kind in (
            ("event_type_name", "event-type"),
            ("task_id", "task"),
            ("key_id", "key"),
            ("source_id", "source"),
        ):
            if name in params and (value := pick(kind)):
                params[name] = value

    def learn(self, case: Any, response: Any) -> None:
        """Remember the ids of what a successful call created, forget what it deleted."""
        if not 200 <= response.status_code < 300:
            return
        if case.method == "DELETE":
            gone = set((case.path_parameters or {}).values())
            gone |= {i for i, app in self.owned.items() if app in gone}
            for kind, pool in self.ids.items():
                self.ids[kind] = [i for i in pool if i not in gone]
            return
        if not response.content:
            return
        body = response.json()
        if not isinstance(body, dict):
            return
        path = case.operation.path
        app_ref = (case.path_parameters or {}).get("app_id")
        app_id = app_ref if app_ref in self.ids["app"] else None
        if path in ("/api/v1/app", API):
            self.remember("app", body.get("id"))
        elif path in (API + "/endpoint", API + "/endpoint/{endpoint_id}"):
            kind = "sink" if body.get("url") == "poll://" else "endpoint"
            self.remember(kind, body.get("id"), app_id)
        elif path in (API + "/integration", API + "/integration/{integ_id}"):
            self.remember("integration", body.get("id"), app_id)
        elif path == "/api/v1/auth/api-token":
            self.remember("key", body.get("id"))
        elif path == SOURCES:
            self.remember("source", body.get("id"))
        elif path == API + "/msg":
            self.remember("msg", body.get("id"), app_id)
        elif path in ("/api/v1/event-type", "/api/v1/event-type/{event_type_name}"):
            self.remember("event-type", body.get("name"))
        elif path in (OPS, OPS + "/{endpoint_id}"):
            self.remember("op-endpoint", body.get("id"))
        elif str(body.get("id")).startswith("qtask_"):
            self.remember("task", body.get("id"))


def settings_for(data_dir: Path) -> Settings:
    # Commits need not reach the disk here: the store is thrown away after each run.
    return make_settings(data_dir).model_copy(update={"sqlite_synchronous": "OFF"})


def test_no_operation_answers_5xx(tmp_path: Path) -> None:
    template = runtime.open_store(settings_for(tmp_path / "template"))
    asyncio.run(template.open())
    asyncio.run(template.close())
    (ApiClient.template,) = (tmp_path / "template").glob("*.db")
    STATUSES.clear()
    NOT_SVIX_SHAPED.clear()
    run_state_machine_as_test(
        ApiClient,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # shrinking a failure would take minutes
        ),
    )
    report = "\n".join(
        f"{counts[True] / sum(counts.values()):6.1%} 2xx of {sum(counts.values()):4} {label}"
        for label, counts in sorted(STATUSES.items())
    )
    print("share of 2xx answers per operation:\n" + report)  # noqa: T201 (shown with -s)
    shapes = "\n".join(line for lines in NOT_SVIX_SHAPED.values() for line in lines)
    assert not shapes, "answers that Svix's SDKs would not parse:\n" + shapes
    never_called = {op.label for op in OPERATIONS} - STATUSES.keys()
    assert not never_called, never_called
    never_succeeded = [f"{m} {p}" for m, p in MUST_SUCCEED if not STATUSES[f"{m} {p}"][True]]
    assert not never_succeeded, f"{never_succeeded}\n{report}"
