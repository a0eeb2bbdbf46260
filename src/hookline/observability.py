"""Wiring of the process's metrics, called by the composition root (``runtime``).

Which registry a process uses: a child of ``hookline serve`` writes into the directory
its supervisor made (``PROMETHEUS_MULTIPROC_DIR``), which the API process aggregates at
``/metrics``; any other process (``--workers 0``, ``--no-worker``, ``hookline worker``,
an app in a test) keeps a registry of its own. A worker without the API serves its own
metrics on ``HOOKLINE_METRICS_PORT`` when that is set (and it is not a supervised child).
"""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

from hookline.config import Settings
from hookline.metrics import Metrics

log = logging.getLogger("hookline")


def build_metrics(settings: Settings) -> Metrics | None:
    """The process's ``Metrics``, or None when ``HOOKLINE_METRICS=false``."""
    if not settings.metrics:
        return None
    return Metrics(
        per_endpoint=settings.metrics_per_endpoint,
        multiprocess_dir=settings.metrics_multiproc_dir,
    )


def serve_worker_metrics(settings: Settings, metrics: Metrics | None) -> None:
    """A standalone worker's ``/metrics`` (unauthenticated: bind it to a private
    interface), on a thread of prometheus_client's, before the roles start."""
    if metrics is None or settings.metrics_port is None or settings.run_api:
        return
    if metrics.multiprocess_dir is not None:
        return  # a child of ``serve``: the API process serves every child's samples
    start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.registry)
    log.info("worker metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
