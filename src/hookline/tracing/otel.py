"""OpenTelemetry spans for publishes and delivery attempts (the ``otel`` extra).

Names and attributes follow OpenTelemetry's messaging semantic conventions, with
hookline as the messaging system and the event type as the destination:

- ``publish {event type}`` (PRODUCER, ``messaging.operation.type`` = ``send``): the
  publish request, a child of the caller's ``traceparent`` when it sent one. Its context
  is stored with the message: it is the message's creation context.
- ``send {event type}`` (CLIENT: an HTTP request to the subscriber): one per attempt,
  a child of the stored publish context *and* linked to it. The parent puts the publish
  and every attempt of every endpoint in one trace, which is what an operator looks for;
  the link is how the conventions tie a send to the message's creation context, so a
  backend that splits deferred work into traces of their own still relates them.

Nothing here sets OpenTelemetry's global tracer provider or propagator: the provider is
this object's, built by the composition root (or handed in by a test).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from hookline.models import DeliveryResult, DeliveryStatus, DeliveryTask
from hookline.tracing import OUTCOME_FAILED, OUTCOME_RETRY, OUTCOME_SUCCESS, Tracing

SYSTEM = "hookline"
_W3C = TraceContextTextMapPropagator()


class _Publish:
    def __init__(self, span: Span) -> None:
        self._span = span
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(span))
        self.traceparent: str | None = carrier.get("traceparent")
        self.tracestate: str | None = carrier.get("tracestate")

    def message(self, msg_id: str) -> None:
        self._span.set_attribute("messaging.message.id", msg_id)

    def __enter__(self) -> _Publish:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._span.record_exception(exc)
            self._span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            self._span.set_attribute("error.type", type(exc).__name__)
        self._span.end()


class _Attempt:
    def __init__(self, span: Span) -> None:
        self._span = span
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(span))
        self.traceparent: str = carrier["traceparent"]

    def end(self, result: DeliveryResult) -> None:
        attempt, span = result.attempt, self._span
        if attempt.response_status:
            span.set_attribute("http.response.status_code", attempt.response_status)
        if attempt.status is DeliveryStatus.SUCCESS:
            span.set_attribute("hookline.outcome", OUTCOME_SUCCESS)
        else:
            retry = result.next_attempt_at is not None
            span.set_attribute("hookline.outcome", OUTCOME_RETRY if retry else OUTCOME_FAILED)
            kind = attempt.error_kind.value if attempt.error_kind is not None else "unknown"
            span.set_attribute("error.type", kind)
            span.set_status(Status(StatusCode.ERROR, kind))
        span.set_attribute("hookline.attempt_id", attempt.id)
        span.end()


class OtelTracing(Tracing):
    """Spans through the provider given; ``close`` shuts it down (flushing its spans)."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("hookline")

    @classmethod
    def from_environment(cls, exporter_name: str | None) -> OtelTracing:
        """A provider as the ``OTEL_*`` variables describe it: the SDK reads the sampler,
        the resource and the OTLP endpoint itself; the service is ``hookline`` unless
        ``OTEL_SERVICE_NAME`` (or the resource attributes) say otherwise."""
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "hookline"}))
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(_exporter(exporter_name)))
        return cls(provider)

    def start_publish(
        self, app_id: str, event_type: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> _Publish:
        carrier = {}
        for name, value in headers:
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        parent = _W3C.extract(carrier) if carrier else None
        span = self._tracer.start_span(
            f"publish {event_type}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": event_type,
                "hookline.app_id": app_id,
            },
        )
        return _Publish(span)

    def start_attempt(self, task: DeliveryTask) -> _Attempt:
        parent = None
        links: list[Link] = []
        if task.traceparent is not None:
            carrier = {"traceparent": task.traceparent}
            if task.tracestate:
                carrier["tracestate"] = task.tracestate
            parent = _W3C.extract(carrier)
            published = trace.get_current_span(parent).get_span_context()
            if published.is_valid:
                links.append(Link(published))
        span = self._tracer.start_span(
            f"send {task.event_type}",
            context=parent,
            kind=SpanKind.CLIENT,
            links=links,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": task.event_type,
                "messaging.message.id": task.msg_id,
                "hookline.app_id": task.app_id,
                "hookline.endpoint_id": task.endpoint_id,
                "hookline.delivery_id": task.delivery_id,
                "hookline.attempt": task.attempts + 1,
                "hookline.trigger": task.trigger.name.lower(),
            },
        )
        return _Attempt(span)

    def close(self) -> None:
        self._provider.shutdown()


def _exporter(name: str | None) -> SpanExporter:
    """``OTEL_TRACES_EXPORTER``: ``console`` prints spans; anything else is OTLP over
    HTTP (protobuf), to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or the collector's default."""
    if (name or "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()
