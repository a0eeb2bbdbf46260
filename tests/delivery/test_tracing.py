"""OpenTelemetry traces: a publish and its delivery attempts, through the real runtime
(API and worker on one event loop, a real socket, a real receiver on 127.0.0.1), with an
in-memory exporter handed to the composition root."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hookline import runtime
from hookline.config import Settings
from hookline.store.base import Store
from hookline.testing import Receiver
from hookline.testing.roles import running
from hookline.tracing import Tracing, tracing_wanted
from hookline.tracing.otel import OtelTracing

TOKEN = "tracing-test-token-0123456789"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


@dataclass
class Served:
    client: httpx.AsyncClient
    store: Store
    spans: InMemorySpanExporter | None

    async def app_with(
        self, receiver: Receiver, **paths: dict[str, Any]
    ) -> tuple[str, dict[str, str]]:
        """An application and one endpoint per path (extra fields per path); returns
        the application id and the endpoint ids by path."""
        app = (await self.client.post("/api/v1/app", json={"name": "traced"})).json()["id"]
        made = {}
        for path, extra in paths.items():
            body = {"url": receiver.url("/" + path), **extra}
            answer = await self.client.post(f"/api/v1/app/{app}/endpoint", json=body)
            assert answer.status_code == 201, answer.text
            made[path] = answer.json()["id"]
        return app, made

    async def finished(self, predicate: Callable[[list[ReadableSpan]], bool]) -> list[ReadableSpan]:
        assert self.spans is not None
        deadline = time.monotonic() + 15
        while not predicate(list(self.spans.get_finished_spans())):
            assert time.monotonic() < deadline, "the spans did not arrive"
            await asyncio.sleep(0.02)
        return list(self.spans.get_finished_spans())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(tmp_path: Path, database_url: str | None, *, traced: bool) -> AsyncIterator[Served]:
    port = _free_port()
    settings = Settings(
        data_dir=tmp_path / f"data{port}",
        database_url=database_url,
        port=port,
        api_token=TOKEN,
        sqlite_synchronous="NORMAL",
        retry_schedule=(0.1, 0.1),
        retry_jitter=0.0,
        poll_interval=0.1,
        worker_max_connections=64,
        worker_concurrency=16,
    )
    exporter = InMemorySpanExporter() if traced else None
    tracing = None
    if exporter is not None:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracing = OtelTracing(provider)
    roles = runtime.build_roles(settings, dev=True, tracing=tracing)
    headers = {"authorization": f"Bearer {TOKEN}"}
    base = f"http://127.0.0.1:{port}"
    client = httpx.AsyncClient(base_url=base, headers=headers, timeout=15)
    async with running(roles), client:
        yield Served(client, roles.store, exporter)


def _incoming() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def _attempts(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith("send ")]


async def test_publish_and_delivery_spans_are_one_trace_under_the_callers(
    tmp_path: Path, database_url: str | None
) -> None:
    async with Receiver() as receiver, serve(tmp_path, database_url, traced=True) as s:
        app, eps = await s.app_with(receiver, opted={"sendTraceparent": True}, plain={})
        shown = (await s.client.get(f"/api/v1/app/{app}/endpoint/{eps['opted']}")).json()
        assert shown["sendTraceparent"] is True
        trace_id, caller_span, header = _incoming()
        answer = await s.client.post(
            f"/api/v1/app/{app}/msg",
            json={"eventType": "invoice.paid", "payload": {"n": 1}},
            headers={"traceparent": header, "tracestate": "vendor=abc"},
        )
        assert answer.status_code == 202, answer.text
        msg_id = answer.json()["id"]
        await receiver.wait_for(1, "/opted")
        await receiver.wait_for(1, "/plain")
        spans = await s.finished(lambda got: len(_attempts(got)) == 2)

    [publish] = [x for x in spans if x.name == "publish invoice.paid"]
    assert publish.kind is SpanKind.PRODUCER
    assert publish.context is not None and publish.parent is not None
    assert publish.context.trace_id == int(trace_id, 16)
    assert publish.parent.span_id == int(caller_span, 16)
    assert publish.attributes is not None
    assert dict(publish.attributes) == {
        "messaging.system": "hookline",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": "invoice.paid",
        "messaging.message.id": msg_id,
        "hookline.app_id": app,
    }
    assert publish.context.trace_state.get("vendor") == "abc"

    by_endpoint = {x.attributes["hookline.endpoint_id"]: x for x in _attempts(spans)}  # type: ignore[index]
    assert set(by_endpoint) == set(eps.values())
    for attempt in by_endpoint.values():
        assert attempt.name == "send invoice.paid"
        assert attempt.kind is SpanKind.CLIENT
        assert attempt.context is not None and attempt.parent is not None
        assert attempt.context.trace_id == int(trace_id, 16)
        assert attempt.parent.span_id == publish.context.span_id
        assert [link.context.span_id for link in attempt.links] == [publish.context.span_id]
        attrs = dict(attempt.attributes or {})
        assert attrs["messaging.message.id"] == msg_id
        assert attrs["messaging.destination.name"] == "invoice.paid"
        assert attrs["hookline.attempt"] == 1
        assert attrs["http.response.status_code"] == 200
        assert attrs["hookline.outcome"] == "success"
        assert "error.type" not in attrs
        assert attempt.status.status_code is not StatusCode.ERROR

    # the opted-in endpoint got its attempt's own context; the other got none
    [opted] = receiver.requests("/opted")
    found = TRACEPARENT.match(opted.headers["traceparent"])
    assert found is not None
    sent_to = by_endpoint[eps["opted"]].context
    assert sent_to is not None
    assert found.group(1) == trace_id
    assert int(found.group(2), 16) == sent_to.span_id
    [plain] = receiver.requests("/plain")
    assert "traceparent" not in plain.headers


async def test_send_traceparent_is_set_by_create_patch_and_put(tmp_path: Path) -> None:
    async with Receiver() as receiver, serve(tmp_path, None, traced=False) as s:
        app, eps = await s.app_with(receiver, a={})
        path = f"/api/v1/app/{app}/endpoint/{eps['a']}"
        assert (await s.client.get(path)).json()["sendTraceparent"] is False
        patched = await s.client.patch(path, json={"sendTraceparent": True})
        assert patched.json()["sendTraceparent"] is True
        kept = await s.client.patch(path, json={"description": "other"})
        assert kept.json()["sendTraceparent"] is True
        put = await s.client.put(path, json={"url": receiver.url("/a")})
        assert put.json()["sendTraceparent"] is False  # PUT replaces: the default
        stored = await s.store.get_endpoint(app, eps["a"])
        assert stored.send_traceparent is False


async def test_a_failed_then_retried_delivery_gives_two_attempt_spans(
    tmp_path: Path, database_url: str | None
) -> None:
    async with Receiver() as receiver, serve(tmp_path, database_url, traced=True) as s:
        receiver.fail("/flaky", times=1, status=500)
        app, eps = await s.app_with(receiver, flaky={})
        answer = await s.client.post(
            f"/api/v1/app/{app}/msg", json={"eventType": "order.made", "payload": {}}
        )
        assert answer.status_code == 202
        await receiver.wait_for(2, "/flaky")
        spans = await s.finished(lambda got: len(_attempts(got)) == 2)

    [publish] = [x for x in spans if x.name == "publish order.made"]
    assert publish.parent is None  # no incoming traceparent: the publish starts the trace
    first, second = sorted(_attempts(spans), key=lambda x: x.attributes["hookline.attempt"])  # type: ignore[index]
    assert publish.context is not None
    for attempt in (first, second):
        assert attempt.parent is not None
        assert attempt.parent.span_id == publish.context.span_id
        assert dict(attempt.attributes or {})["hookline.endpoint_id"] == eps["flaky"]
    assert dict(first.attributes or {}) | {} == {
        **dict(first.attributes or {}),
        "hookline.attempt": 1,
        "http.response.status_code": 500,
        "hookline.outcome": "retry",
        "error.type": "http_status",
    }
    assert first.status.status_code is StatusCode.ERROR
    second_attrs = dict(second.attributes or {})
    assert second_attrs["hookline.attempt"] == 2
    assert second_attrs["http.response.status_code"] == 200
    assert second_attrs["hookline.outcome"] == "success"
    assert second.status.status_code is not StatusCode.ERROR
    [request] = receiver.requests("/flaky")[:1]
    assert "traceparent" not in request.headers  # not opted in


async def test_untraced_runtime_stores_and_sends_no_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "HOOKLINE_OTEL"):
        monkeypatch.delenv(name, raising=False)
    async with Receiver() as receiver, serve(tmp_path, None, traced=False) as s:
        app, _ = await s.app_with(receiver, opted={"sendTraceparent": True})
        _, _, header = _incoming()
        answer = await s.client.post(
            f"/api/v1/app/{app}/msg",
            json={"eventType": "a.b", "payload": {}},
            headers={"traceparent": header},
        )
        [request] = await receiver.wait_for(1, "/opted")
        stored = await s.store.get_message(app, answer.json()["id"])
    assert "traceparent" not in request.headers
    assert stored.traceparent is None and stored.tracestate is None


def test_importing_the_runtime_without_tracing_imports_no_opentelemetry() -> None:
    """FastAPI itself imports ``opentelemetry`` (the API package, for its own opt-in
    telemetry), so the check is on what hookline adds: the SDK, an exporter, and
    ``hookline.tracing.otel``, none of which a process without traces loads."""
    script = (
        "import sys\n"
        "import hookline.runtime\n"
        "from hookline.config import Settings\n"
        "from hookline.tracing import Tracing, build_tracing\n"
        "assert type(build_tracing(Settings())) is Tracing\n"
        "ours = ('opentelemetry.sdk', 'opentelemetry.exporter', 'hookline.tracing.otel')\n"
        "print(sorted(m for m in sys.modules if m.startswith(ours)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HOOKLINE_"))}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_tracing_is_on_when_the_standard_variables_name_an_exporter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "HOOKLINE_OTEL"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing_wanted(Settings())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not tracing_wanted(Settings())
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert tracing_wanted(Settings())
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_wanted(Settings())
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("HOOKLINE_OTEL", "true")
    assert tracing_wanted(Settings())
    assert Tracing().start_publish("app", "a.b", [(b"traceparent", b"x")]) is None


def test_the_standard_variables_configure_the_exporter_and_the_resource() -> None:
    """``OTEL_TRACES_EXPORTER=console`` through ``build_tracing``: the span comes out on
    stdout, under the service ``OTEL_SERVICE_NAME`` names, flushed by ``close``."""
    script = (
        "from hookline.config import Settings\n"
        "from hookline.tracing import build_tracing\n"
        "tracing = build_tracing(Settings())\n"
        "with tracing.start_publish('app_1', 'a.b', []) as span:\n"
        "    span.message('msg_1')\n"
        "tracing.close()\n"
        "print('closed', flush=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HOOKLINE_"))}
    env.update(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="billing-hooks")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    flushed, _, _ = done.stdout.partition("closed")  # by close, not at the exit after
    assert '"name": "publish a.b"' in flushed
    assert '"messaging.message.id": "msg_1"' in flushed
    assert '"service.name": "billing-hooks"' in flushed
