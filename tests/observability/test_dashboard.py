"""The Grafana dashboard queries only what hookline exports: every metric name in every
PromQL expression is one a live ``/metrics`` lists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from metrics_kit import AUTH, serve
from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "hookline-dashboard.json"
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}
# a name in a PromQL expression: an identifier outside quotes, not a function, keyword or
# label (labels sit inside braces or after by/without)
_QUOTED = re.compile(r'"[^"]*"')
_BRACES = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}


def _exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for v in node.values() for e in _exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in _exprs(v)]
    return []


def metric_names(expr: str) -> set[str]:
    text = _GROUPING.sub(" ", _BRACES.sub(" ", _QUOTED.sub(" ", expr)))
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors: [5m], [$__rate_interval]
    text = re.sub(r"\$\w+", " ", text)
    return {m for m in _IDENT.findall(text) if m not in _KEYWORDS and not m[0].isdigit()}


async def test_every_expression_uses_only_metrics_hookline_exports(tmp_path: Path) -> None:
    async with serve(tmp_path) as server:
        text = (await server.client.get("/metrics", headers=AUTH)).text
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
        exported.update(sample.name for sample in family.samples)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = _exprs(dashboard["panels"])
    assert len(exprs) >= 15
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, names - exported)
        used |= names
    # throughput, success rate, latency, queue, failing endpoints, API and intake
    for needed in (
        "hookline_delivery_attempts_total",
        "hookline_delivery_attempt_duration_seconds_bucket",
        "hookline_delivery_end_to_end_seconds_bucket",
        "hookline_queue_depth",
        "hookline_queue_oldest_ready_age_seconds",
        "hookline_endpoints",
        "hookline_api_requests_total",
        "hookline_inbound_requests_total",
    ):
        assert needed in used, needed
    assert any("histogram_quantile" in e for e in exprs)


def test_the_name_extraction_sees_every_metric_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(foo_bucket{code=~"5.."}'
        "[$__rate_interval]))) / on (route) bar_total"
    )
    assert metric_names(expr) == {"foo_bucket", "bar_total"}
