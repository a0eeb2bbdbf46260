"""The ``postgres`` scenario's section of docs/benchmarks.md."""

from __future__ import annotations

from bench.formats import Result, load_cell, mb, pct, procs_cell, rate, table
from bench.sections import section_phases

TITLE = "postgres: drain and end to end on PostgreSQL, several processes"


def section_postgres(res: Result) -> str:
    ceiling = res.get("ceiling") or {}
    base = ceiling.get("rate") or 0
    runs = [r for r in ceiling.get("runs") or [] if r]
    parts = [
        f"{res.get('postgres', 'PostgreSQL')} on 127.0.0.1 with fsync and synchronous_commit"
        " on; every process given `HOOKLINE_DATABASE_URL` and one shared"
        " `HOOKLINE_SECRET_KEY`, nothing else tuned. Same-run aiohttp ceiling:"
        f" {rate(ceiling.get('rate'))} (mean of {', '.join(rate(r) for r in runs)}).",
        "",
    ]
    drain_rows = res.get("drain_rows") or []
    if drain_rows:
        out = []
        for row in drain_rows:
            db = row.get("db") or {}
            out.append(
                [
                    f"{row.get('label', '')}, {row['processes_asked']} `hookline worker`",
                    f"{row['delivered']:,} / {row['queued']:,}",
                    rate(row["rate"]),
                    pct(row["rate"] / base) if base and row.get("rate") else "n/a",
                    f"{row['worker_cpu_cores'] or 0:.2f}",
                    mb(row.get("worker_peak_rss_mb")),
                    f"{db.get('attempts', 0):,} / {db.get('deliveries_success', 0):,}",
                    load_cell(row),
                ]
            )
        head = ["drain", "delivered / queued", "deliveries/s", "% of ceiling"]
        head += ["worker CPU (cores)", "peak RSS", "attempts / delivered rows", "other load"]
        seeded = drain_rows[0].get("seed_rate")
        parts += [
            table(head, out),
            "",
            "The queue is seeded through the store's `publish` into a template database"
            + (f" (at {rate(seeded, ' msg/s')})" if seeded else "")
            + " and copied per row; the receiver is the same as the SQLite rows'.",
            "",
        ]
    if res.get("drain_rows_error"):
        parts += [f"**The drain rows failed:** {res['drain_rows_error']}", ""]
    e2e = res.get("end_to_end") or {}
    if e2e.get("rows"):
        rows = e2e["rows"]
        parts += [
            section_phases(rows, "publishing"),
            f"{e2e.get('api_processes', 2)} x `hookline serve --no-worker` and"
            f" {e2e.get('worker_processes', 2)} x `hookline worker`, after `hookline"
            " migrate`; one load generator per API (the rate split between them, or 16"
            " publishers each). Delivered/s against the ceiling: "
            + ", ".join(
                f"{r['label']} {pct(r['delivered_rate'] / base) if base else 'n/a'}" for r in rows
            )
            + f". Peak RSS per process: {procs_cell(e2e) or 'n/a'}.",
            "",
        ]
    if res.get("end_to_end_error"):
        parts += [f"**The end-to-end rows failed:** {res['end_to_end_error']}", ""]
    return "\n".join(parts)
