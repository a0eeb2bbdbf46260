"""Formatting of figures for docs/benchmarks.md: rates, times, sizes, tables."""

from __future__ import annotations

from typing import Any

Result = dict[str, Any]


def rate(value: float | None, unit: str = "/s") -> str:
    return "n/a" if value is None else f"{value:,.0f}{unit}"


def ms(value: float | None, missing: int = 0) -> str:
    if value is None:
        return f"never ({missing:,} missing)" if missing else "n/a"
    return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MB"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:,.0f} %"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def latency_cells(lat: Result) -> list[str]:
    missing = int(lat.get("missing") or 0)
    return [ms(lat.get(key), missing) for key in ("p50_ms", "p99_ms", "max_ms")]


def load_cell(row: Result) -> str:
    """Cores used by processes outside the harness while the row ran."""
    load = row.get("other_load_cores")
    if load is None:
        return ""
    return f"**{load:.2f} cores**" if load > 0.1 else f"{load:.2f} cores"


def procs_cell(row: Result) -> str:
    """Peak RSS of each process of a row, e.g. ``hookline 96 MB, hookline 88 MB``."""
    procs = row.get("processes") or row.get("server_processes") or []
    return ", ".join(f"{p['name']} {mb(p['peak_rss_mb'])}" for p in procs)
