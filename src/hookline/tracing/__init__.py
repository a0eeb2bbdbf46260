"""Traces of publishes and delivery attempts, behind an object the composition root picks.

``Tracing`` itself records nothing and imports nothing: a process without the ``otel``
extra, or with tracing not configured, pays one method call returning None per publish
and per attempt. ``build_tracing`` returns the OpenTelemetry one (``tracing.otel``, the
only module that imports ``opentelemetry``) when the settings ask for traces.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol

from hookline.config import Settings
from hookline.models import DeliveryResult, DeliveryTask

log = logging.getLogger("hookline.tracing")

# what the span of an attempt says about its result (``hookline.outcome``)
OUTCOME_SUCCESS, OUTCOME_RETRY, OUTCOME_FAILED = "success", "retry", "failed"


class PublishTrace(Protocol):
    """The span of one publish, open while the message is stored."""

    traceparent: str | None  # its context, stored with the message
    tracestate: str | None

    def message(self, msg_id: str) -> None: ...
    def __enter__(self) -> PublishTrace: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class AttemptTrace(Protocol):
    """The span of one delivery attempt, open while it is sent."""

    traceparent: str  # the attempt's own context, for endpoints that opted in

    def end(self, result: DeliveryResult) -> None: ...


class Tracing:
    """No tracing: every hook returns None, so call sites skip their work."""

    enabled = False

    def start_publish(
        self, app_id: str, event_type: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> PublishTrace | None:
        """``headers`` are the request's (ASGI's raw pairs), read for ``traceparent``."""
        return None

    def start_attempt(self, task: DeliveryTask) -> AttemptTrace | None:
        return None

    def close(self) -> None:
        """Flush and stop the exporter (at shutdown)."""


def tracing_wanted(settings: Settings) -> bool:
    exporter = (settings.otel_traces_exporter or "").strip().lower()
    if exporter == "none":
        return settings.otel
    return settings.otel or bool(exporter) or bool(settings.otel_exporter_otlp_endpoint)


def build_tracing(settings: Settings) -> Tracing:
    """The OpenTelemetry tracing when the settings ask for it, else the no-op one."""
    if not tracing_wanted(settings):
        return Tracing()
    try:
        from hookline.tracing.otel import OtelTracing
    except ImportError:
        log.warning("tracing is configured but the otel extra is not installed: no traces")
        return Tracing()
    return OtelTracing.from_environment(settings.otel_traces_exporter)
