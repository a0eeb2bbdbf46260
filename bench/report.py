"""Results: ``bench/results/latest.json`` and the generated part of ``docs/benchmarks.md``.

A run of some scenarios merges into the previous results: each scenario keeps the
commit, date and command it was measured with, so a partial run never passes off
old figures as new. Only the text between the markers in the document is replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.harness import CEILING_CONCURRENCY, REPO

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
RESULTS = REPO / "bench" / "results" / "latest.json"
DOC = REPO / "docs" / "benchmarks.md"

Result = dict[str, Any]


def load(path: Path) -> Result:
    if not path.exists():
        return {"scenarios": {}}
    try:
        data: Result = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return {"scenarios": {}}
    data.setdefault("scenarios", {})
    return data


def save(path: Path, data: Result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    tmp.replace(path)


# ----- formatting -----------------------------------------------------------------------


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


# ----- targets --------------------------------------------------------------------------


def _headline_drain(drain: Result) -> Result | None:
    """One endpoint, one worker process, product defaults."""
    for row in drain.get("rows", []):
        if row.get("label") == "1 endpoint" and row.get("processes_asked", 1) == 1:
            if row.get("defaults") or row.get("synchronous") == "NORMAL":  # older runs
                return dict(row)
    return None


def _closed_loop(e2e: Result) -> Result | None:
    rows = [r for r in e2e.get("rows", []) if r.get("rate") is None]
    return rows[0] if rows else None


def _process_peaks(res: Result) -> list[tuple[str, float]]:
    """(where, peak RSS) of every process a scenario measured."""
    out: list[tuple[str, float]] = []
    for row in res.get("rows", []):
        for proc in row.get("processes") or row.get("server_processes") or []:
            out.append(
                (f"{row.get('label', row.get('name', ''))}: {proc['name']}", proc["peak_rss_mb"])
            )
        if not row.get("processes") and row.get("worker_peak_rss_mb"):
            out.append((str(row.get("label", "")), row["worker_peak_rss_mb"]))
    for proc in res.get("server_processes") or []:
        out.append((f"serve: {proc['name']}", proc["peak_rss_mb"]))
    return out


def targets(scenarios: Result) -> list[Result]:
    out: list[Result] = []

    def add(
        target: str,
        scenario: str,
        check: Callable[[Result], tuple[bool | None, str]],
    ) -> None:
        entry = scenarios.get(scenario, {})
        res = entry.get("result")
        if res is None:
            figure = entry.get("error", "")
            out.append({"target": target, "status": "not measured", "figure": figure})
            return
        try:
            ok, figure = check(res)
        except (KeyError, TypeError, ZeroDivisionError, IndexError, ValueError) as exc:
            ok, figure = None, f"could not compute: {exc!r}"
        status = "not measured" if ok is None else ("met" if ok else "not met")
        out.append({"target": target, "status": status, "figure": figure})

    def vs_ceiling(res: Result) -> tuple[bool | None, str]:
        row, ceiling = _headline_drain(res), res["ceiling"]
        if row is None or not ceiling.get("rate"):
            return None, "no drain or ceiling figure"
        ratio = row["rate"] / ceiling["rate"]
        figure = f"{rate(row['rate'])} vs aiohttp ceiling {rate(ceiling['rate'])} = {pct(ratio)}"
        return ratio >= 0.6, figure

    def vs_peer(res: Result) -> tuple[bool | None, str]:
        row, peer = _headline_drain(res), res["peer"]
        if not peer.get("available"):
            return None, f"peer unavailable: {peer.get('reason', '')[:120]}"
        if row is None or not peer.get("rate"):
            return None, "no drain or peer figure"
        ratio = row["rate"] / peer["rate"]
        best = f" ({peer['config']})" if peer.get("config") else ""
        return (
            ratio >= 10,
            f"{rate(row['rate'])} vs Celery{best} {rate(peer['rate'])} = {ratio:.1f}x",
        )

    def e2e_rate(res: Result) -> tuple[bool | None, str]:
        row, ceiling = _closed_loop(res), res.get("ceiling") or {}
        if row is None or not ceiling.get("rate"):
            return None, "no closed-loop phase or ceiling figure"
        ratio = row["delivered_rate"] / ceiling["rate"]
        return ratio >= 0.3, (
            f"{rate(row['delivered_rate'])} delivered (publish to receipt) vs ceiling"
            f" {rate(ceiling['rate'])} = {pct(ratio)}"
        )

    def e2e_latency(res: Result) -> tuple[bool | None, str]:
        rows = [r for r in res["rows"] if r.get("rate") == 500.0]
        if not rows:
            return None, "the 500 msg/s phase did not run"
        lat = rows[0]["latency"]
        p50, p99 = lat["p50_ms"], lat["p99_ms"]
        ok = p50 is not None and p99 is not None and p50 <= 5 and p99 <= 20
        return ok, f"p50 {ms(p50, lat['missing'])}, p99 {ms(p99, lat['missing'])}"

    def fanout_accept(res: Result) -> tuple[bool | None, str]:
        row = res["rows"][0]
        return row["accepted_rate"] >= 1000, f"{rate(row['accepted_rate'], ' msg/s')} accepted"

    def fanout_flow(res: Result) -> tuple[bool | None, str]:
        row = res["rows"][0]
        flow = row.get("flow_rate")
        drain_entry = scenarios.get("drain", {}).get("result") or {}
        base = _headline_drain(drain_entry)
        if flow is None or base is None or not base.get("rate"):
            return None, "no fan-out flow rate or one-endpoint drain figure"
        ratio = flow / base["rate"]
        same = scenarios.get("drain", {}).get("run_id") == scenarios["fan-out"].get("run_id")
        note = "" if same else " (drain from another run)"
        return ratio >= 0.8, (
            f"{rate(flow)} vs one-endpoint drain {rate(base['rate'])}{note} = {pct(ratio)}"
        )

    def memory(res: Result) -> tuple[bool | None, str]:
        peaks = _process_peaks(res)
        for other in ("end-to-end", "fan-out", "isolation", "publish-under-load"):
            more = scenarios.get(other, {}).get("result")
            if more:
                peaks += [(f"{other} {w}", v) for w, v in _process_peaks(more)]
        if not peaks:
            return None, "n/a"
        where, top = max(peaks, key=lambda p: p[1])
        return top <= 150, f"largest peak {mb(top)} ({where}) over {len(peaks)} processes"

    def backlog_rate(res: Result) -> tuple[bool | None, str]:
        shallow, deep = res["rows"]
        slices = deep.get("slice_rates") or []
        worst = res.get("worst_slice_ratio")
        if worst is None:
            ratio = res.get("ratio")  # an older run measured only the first slice
            if ratio is None:
                return None, "no 10,000-backlog figure"
            return ratio >= 0.8, f"{rate(deep['rate'])} vs {rate(shallow['rate'])} = {pct(ratio)}"
        complete = deep.get("complete") and len(slices) * deep.get("slice", 1) >= deep["queued"]
        figure = (
            f"slowest of {len(slices)} slices {rate(min(slices))} vs {rate(shallow['rate'])}"
            f" = {pct(worst)}; whole drain {rate(deep['rate'])}"
        )
        if not complete:
            figure += f"; only {deep['delivered']:,} of {deep['queued']:,} drained"
        return worst >= 0.8 and bool(complete), figure

    def backlog_rss(res: Result) -> tuple[bool | None, str]:
        peak = res["rows"][1].get("worker_peak_rss_mb")
        return (None, "n/a") if peak is None else (peak <= 250, f"peak {mb(peak)}")

    def isolation(res: Result) -> tuple[bool | None, str]:
        healthy, stalled = res["rows"]
        ratio = res.get("ratio")
        if ratio is None:
            return None, "no all-healthy figure"
        return ratio >= 0.9, (
            f"{rate(stalled['delivered_rate'])} vs {rate(healthy['delivered_rate'])}"
            f" = {pct(ratio)}" + ("" if res.get("window") else " (open loop, older run)")
        )

    def isolation_p99(res: Result) -> tuple[bool | None, str]:
        healthy, stalled = res["rows"]
        a, b = stalled["latency"], healthy["latency"]
        figure = f"healthy p99 {ms(a['p99_ms'], a['missing'])} vs {ms(b['p99_ms'], b['missing'])}"
        if a["p99_ms"] is None or not b["p99_ms"]:
            return False if a["p99_ms"] is None else None, figure
        return a["p99_ms"] <= 2 * b["p99_ms"], f"{figure} = {a['p99_ms'] / b['p99_ms']:.1f}x"

    def publish_p99(res: Result) -> tuple[bool | None, str]:
        rows = [r for r in res["rows"] if r["name"] == "serve"]
        if not rows:
            return None, "the hookline serve row did not run"
        pub, health = rows[0]["publish_latency"], rows[0]["health_latency"]
        ok = pub["p99_ms"] is not None and pub["p99_ms"] < 50
        return ok, (
            f"publish p50 {ms(pub['p50_ms'])}, p99 {ms(pub['p99_ms'])}; health p50"
            f" {ms(health['p50_ms'])}, p99 {ms(health['p99_ms'])};"
            f" {rate(rows[0]['drain_rate'])} drained meanwhile"
        )

    add("drain, one worker process: >= 60 % of the same-run aiohttp ceiling", "drain", vs_ceiling)
    add("drain, one worker process: >= 10x the Celery peer at its best", "drain", vs_peer)
    add("end-to-end, closed loop: >= 30 % of the same-run ceiling", "end-to-end", e2e_rate)
    add("end-to-end at 500 msg/s: p50 <= 5 ms and p99 <= 20 ms", "end-to-end", e2e_latency)
    add("fan-out to 100 endpoints: >= 1,000 msg/s accepted", "fan-out", fanout_accept)
    add("fan-out: deliveries flow >= 80 % of the one-endpoint drain", "fan-out", fanout_flow)
    add("memory: every process at full speed <= 150 MB RSS", "drain", memory)
    add(
        "backlog: every 100,000 slice of 1,000,000 >= 80 % of the 10,000 rate",
        "backlog",
        backlog_rate,
    )
    add("backlog: worker RSS <= 250 MB over the whole drain", "backlog", backlog_rss)
    add("isolation: healthy throughput >= 90 % of all-healthy", "isolation", isolation)
    add("isolation: healthy p99 <= 2x all-healthy", "isolation", isolation_p99)
    add(
        "publish with the worker saturated: API publish p99 < 50 ms",
        "publish-under-load",
        publish_p99,
    )
    add(
        "inbound: at least the peer's rate while persisting every request",
        "inbound",
        inbound,
    )
    return out


def inbound(res: Result) -> tuple[bool | None, str]:
    peer, row = res.get("peer", {}), _headline_inbound(res)
    if not peer.get("available"):
        return None, f"peer unavailable: {peer.get('reason', '')[:120]}"
    if row is None or row.get("error") or not peer.get("rate"):
        return None, "no hookline or peer figure" + (
            f": {row['error'][:120]}" if row and row.get("error") else ""
        )
    db = row["db"]
    kept = f"{db['answered_200'] - db['missing']:,} of {db['answered_200']:,} stored"
    ratio = row["rate"] / peer["rate"]
    figure = (
        f"{rate(row['rate'])} vs webhook {rate(peer['rate'])} ({peer.get('mode')})"
        f" = {pct(ratio)}; {kept}"
    )
    return ratio >= 1 and bool(row["persisted"]), figure


def _headline_inbound(res: Result) -> Result | None:
    """hookline with product defaults and a source without endpoints."""
    for row in res.get("rows", []):
        if row.get("server") == "hookline" and row.get("name") == "hookline-0ep":
            return dict(row)
    return None


# ----- sections ---------------------------------------------------------------------------


def describe_commit(commit: Result) -> str:
    text = f"`{commit.get('commit', '?')}`"
    dirty = commit.get("uncommitted_src_changes") or []
    if dirty:
        text += f" plus uncommitted changes to {len(dirty)} file(s) under src/"
    return text


def _provenance(entry: Result, run: Result) -> str:
    commit = entry.get("commit", {})
    after = entry.get("commit_after") or commit
    changed = ""
    if after != commit:
        changed = f"; the tree changed while it ran (ended at {describe_commit(after)})"
    if entry.get("run_id") != run.get("run_id"):
        machine = entry.get("machine") or {}
        elsewhere = ""
        if machine and machine.get("cpu") != run.get("machine", {}).get("cpu"):
            elsewhere = f", on another machine ({machine.get('cpu')}, {machine.get('cores')} cores)"
        return (
            f"_Measured in an earlier run: {entry.get('measured_at', '?')}, commit"
            f" {describe_commit(commit)}, `{entry.get('command', '?')}`{elsewhere}{changed}._"
        )
    if commit != run.get("commit") or changed:
        return f"_Measured at commit {describe_commit(commit)}{changed}._"
    return ""


def _load(row: Result) -> str:
    """Cores used by processes outside the harness while the row ran."""
    load = row.get("other_load_cores")
    if load is None:
        return ""
    return f"**{load:.2f} cores**" if load > 0.1 else f"{load:.2f} cores"


def _procs(row: Result) -> str:
    """Peak RSS of each process of a row, e.g. ``hookline 96 MB, hookline 88 MB``."""
    procs = row.get("processes") or row.get("server_processes") or []
    return ", ".join(f"{p['name']} {mb(p['peak_rss_mb'])}" for p in procs)


def _peer_label(peer: Result) -> str:
    if not peer.get("config"):  # an older run
        return "peer: Celery + Redis, 2 prefork workers, requests.post"
    return f"peer: Celery + Redis (AOF everysec), {peer['config']}, requests.Session, acks late"


def section_drain(res: Result) -> str:
    ceiling, peer = res["ceiling"], res["peer"]
    base = ceiling.get("rate") or 0
    peer_rate = peer.get("rate") if peer.get("available") else None

    def vs(value: float | None) -> list[str]:
        return [
            pct(value / base) if value and base else "",
            f"{value / peer_rate:.1f}x" if value and peer_rate else "",
        ]

    runs = ceiling.get("runs") or []
    rows = [
        [
            "ceiling: bare aiohttp + uvloop sender, HMAC, no persistence"
            + (
                f" (mean of runs before and after: {', '.join(rate(r) for r in runs)})"
                if len(runs) > 1
                else ""
            ),
            f"{ceiling.get('requests', 0):,}",
            rate(ceiling.get("rate")),
            *vs(ceiling.get("rate")),
            "",
            "",
            "",
            "",
        ]
    ]
    for bare in res.get("bare_senders", []):
        names = {"raw": "raw asyncio protocol + httptools", "pyreqwest": "pyreqwest"}
        name = names.get(bare.get("client", ""), bare.get("client", "?"))
        rows.append(
            [
                f"fastest bare senders: {name}, HMAC, no persistence",
                f"{bare.get('requests', 0):,}" if bare.get("available") else "unavailable",
                rate(bare.get("rate")) if bare.get("available") else bare.get("reason", ""),
                *vs(bare.get("rate") if bare.get("available") else None),
                "",
                "",
                "",
                "",
            ]
        )
    rows.append(
        [
            _peer_label(peer),
            f"{peer.get('requests', 0):,}" if peer.get("available") else "unavailable",
            rate(peer_rate) if peer_rate else f"unavailable: {peer.get('reason', '')[:80]}",
            *vs(peer_rate),
            mb(peer.get("peak_rss_mb") or peer.get("main_process_peak_rss_mb")),
            "",
            "",
            "",
        ]
    )
    for row in res["rows"]:
        db = row.get("db", {})
        persisted = (
            f"{db.get('attempts', 0):,} attempts, {db.get('deliveries_success', 0):,} succeeded"
            if db
            else ""
        )
        if "processes_asked" in row:
            n = row["processes_asked"]
            label = f"hookline worker, defaults: {row['label']}, {n} worker process"
            label += "es" if n > 1 else ""
        else:
            label = f"hookline worker: {row['label']}, synchronous={row.get('synchronous')}"
        cpu = row.get("worker_cpu_us_per_delivery")
        rows.append(
            [
                label,
                f"{row['delivered']:,} / {row['queued']:,}",
                rate(row["rate"]),
                *vs(row["rate"]),
                _procs(row) or mb(row.get("worker_peak_rss_mb")),
                f"{row['worker_cpu_cores']:.2f} cores, {cpu:,.0f} µs/delivery" if cpu else "",
                persisted,
                _load(row),
            ]
        )
    head = ["run", "deliveries", "rate", "vs ceiling", "vs peer", "peak RSS per process"]
    head += ["worker CPU", "persisted", "other load"]
    notes = (
        f"\nSeeded through `store.publish` at {rate(res.get('seed_rate_1ep'), ' msg/s')}."
        " Rates run from the first to the last arrival at the receiver. The targets use the"
        " aiohttp ceiling (the client the worker has used); the fastest bare senders show the"
        " distance to the best Python can do on this receiver."
    )
    if any(r.get("processes_asked", 1) > 1 for r in res["rows"]):
        notes += (
            " Two worker processes: `--workers 2` where the CLI has it, else two `hookline"
            " worker` processes on the same SQLite file; the difference from one process is"
            " what sharing the file (and the 2 cores) costs."
        )
    tried = peer.get("tried") or []
    if tried:
        items = [
            f"{t['config']}: "
            + (rate(t["rate"]) if t.get("rate") else f"failed ({t.get('error', '')[:60]})")
            + ("" if t.get("complete", True) else " (incomplete)")
            for t in tried
        ]
        notes += (
            f"\n\n<details><summary>Celery configurations tried ({len(tried)}, short runs;"
            f" the best was run again for the figure above)</summary>\n\n- "
            + "\n- ".join(items)
            + "\n\n</details>"
        )
    return table(head, rows) + "\n" + notes + "\n"


def section_phases(rows: list[Result], first_col: str) -> str:
    out = []
    for row in rows:
        lat = row["latency"]
        api = row["api_latency"]
        out.append(
            [
                row.get("label", ""),
                f"{row['accepted']:,} / {row['offered']:,}",
                rate(row["accepted_rate"]),
                f"{row['delivered']:,} / {row['expected_deliveries']:,}",
                rate(row["delivered_rate"]),
                *latency_cells(lat),
                f"{ms(api['p50_ms'])} / {ms(api['p99_ms'])}",
            ]
        )
        if "server_cpu_cores" in row:
            out[-1].append(f"{row['server_cpu_cores']:.2f}")
    head = [first_col, "accepted / offered", "accepted/s", "delivered", "delivered/s"]
    head += ["latency p50", "p99", "max", "API p50 / p99"]
    if rows and "server_cpu_cores" in rows[0]:
        head.append("server CPU (cores)")
    return table(head, out) + "\n"


def section_end_to_end(res: Result) -> str:
    skipped = sum(r.get("skipped_client_side", 0) for r in res["rows"])
    note = (
        f" The open-loop publisher keeps at most 1,000 requests outstanding; {skipped:,}"
        " offered messages were not sent because that many were already waiting."
        if skipped
        else ""
    )
    ceiling = res.get("ceiling") or {}
    loadgen = [
        f"{r['label']} {r['loadgen_cpu_cores']:.2f}"
        for r in res["rows"]
        if r.get("loadgen_cpu_cores")
    ]
    return (
        section_phases(res["rows"], "publishing")
        + f"\n`hookline serve` peak RSS per process: {_serve_rss(res)}."
        " Latency is publish-to-receive: from just before the API request is sent to the"
        " receiver's arrival timestamp (same clock); API latency is request to 202."
        + (
            f" Same-run aiohttp ceiling: {rate(ceiling.get('rate'))}. The publisher is"
            " `bench/loadgen.py` in its own process"
            + (f" (its CPU, cores: {', '.join(loadgen)})" if loadgen else "")
            + "; server CPU is the whole process tree's."
            if ceiling
            else " The publisher ran in the harness process (an older run)."
        )
        + note
        + "\n"
    )


def _serve_rss(res: Result) -> str:
    return _procs(res) or mb(res.get("server_peak_rss_mb"))


def section_fanout(res: Result) -> str:
    row = res["rows"][0]
    return (
        section_phases(res["rows"], "run")
        + f"\n`hookline serve` peak RSS per process: {_serve_rss(res)}."
        + (
            f" Once flowing (first to last arrival), deliveries ran at"
            f" {rate(row['flow_rate'])}. Publishers: `bench/loadgen.py` in its own process."
            if row.get("flow_rate")
            else ""
        )
        + "\n"
    )


def section_isolation(res: Result) -> str:
    rows = res["rows"]
    body = section_phases(rows, "endpoints (healthy deliveries only)")
    kinds = rows[1].get("db", {}).get("attempts_by_error_kind", {})
    attempts = ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))
    window = (
        f" Load: closed loop end to end, at most {res['window']:,} healthy deliveries"
        f" outstanding ({res.get('publishers')} publishers in their own process)."
        if res.get("window")
        else " Load: open loop, 10 msg/s (an older run)."
    )
    return (
        body + f"\nHealthy throughput ratio: {pct(res.get('ratio'))}.{window}"
        f" Requests left hanging by the stalled endpoints: {rows[1].get('hung_requests', 0):,}."
        + (
            f" Attempts of the stalled run finished within the measurement, by error kind:"
            f" {attempts}."
            if kinds
            else ""
        )
        + "\n"
    )


def section_backlog(res: Result) -> str:
    out = []
    for row in res["rows"]:
        out.append(
            [
                row["label"],
                f"{row['delivered']:,}",
                rate(row["rate"]),
                _procs(row) or mb(row.get("worker_peak_rss_mb")),
                f"{row['shutdown_seconds']:.1f} s",
                _load(row),
            ]
        )
    head = ["backlog", "delivered", "rate", "worker peak RSS", "SIGTERM to exit", "other load"]
    deep = res["rows"][1]
    seeded = ""
    if deep.get("seed_seconds"):
        seeded = (
            f" Seeding {deep['queued']:,} deliveries through `store.publish` took"
            f" {deep['seed_seconds']:.0f} s; the database file was {mb(deep.get('db_mb'))}."
        )
    slices = deep.get("slice_rates") or []
    text = table(head, out) + "\n"
    if slices:
        size = deep.get("slice", 0)
        ratios = res.get("slice_ratios") or []
        text += (
            "\n"
            + table(
                ["slice", "rate", "vs 10,000 backlog"],
                [
                    [
                        f"{i * size:,} to {(i + 1) * size:,}",
                        rate(r),
                        pct(ratios[i]) if i < len(ratios) else "",
                    ]
                    for i, r in enumerate(slices)
                ],
            )
            + "\n"
        )
        text += (
            "\nRates per slice from the receiver's timestamp of every"
            f" {size:,}th arrival; the slowest slice is {pct(res.get('worst_slice_ratio'))} of"
            " the 10,000-backlog rate."
        )
    else:
        text += f"\nRate ratio: {pct(res.get('ratio'))}."
    return text + seeded + "\n"


def section_publish_load(res: Result) -> str:
    labels = {
        "api-idle": "`serve --no-worker` alone, nothing draining",
        "api-plus-worker": "`serve --no-worker` + a `hookline worker` process draining, one file",
        "serve": "`hookline serve` with its defaults, backlog draining (headline)",
    }
    out = []
    for row in res["rows"]:
        pub, health = row["publish_latency"], row["health_latency"]
        out.append(
            [
                labels.get(row["name"], row["name"]),
                f"{row['accepted']:,} / {row['offered']:,}",
                ms(pub["p50_ms"]),
                ms(pub["p99_ms"]),
                ms(health["p50_ms"]),
                ms(health["p99_ms"]),
                rate(row["drain_rate"]),
                _procs(row),
            ]
        )
    head = ["API", "accepted / offered", "publish p50", "publish p99", "health p50"]
    head += ["health p99", "drained meanwhile", "peak RSS per process"]
    return (
        table(head, out)
        + f"\n\nBacklog {res.get('backlog', 0):,} deliveries (100 endpoints); the load"
        f" generator (own process) publishes {res.get('publish_rate', 0):.0f} msg/s open loop"
        f" to another application and sends `GET /api/v1/health` {res.get('health_rate', 0):.0f}"
        f" times a second, for {res.get('seconds', 0):.0f} s per row. Latency is request to"
        " answer.\n"
    )


def _inbound_label(row: Result) -> str:
    if row.get("server") == "webhook":
        if row.get("mode") == "sync":
            return "peer: webhook, runs `/bin/true`, then answers"
        return "peer: webhook, answers, then runs `/bin/true` (its default)"
    if row.get("name") == "hookline-1ep":
        return "hookline serve, defaults, github source with 1 endpoint (loopback receiver)"
    return "hookline serve, defaults, github source with no endpoints (headline)"


def section_inbound(res: Result) -> str:
    peer = res.get("peer", {})
    peer_rate = peer.get("rate") if peer.get("available") else None
    out = []
    for row in res.get("rows", []):
        if row.get("error"):
            out.append([_inbound_label(row), "", f"failed: {row['error'][:100]}"] + [""] * 7)
            continue
        lat = row["latency"]
        if row.get("server") == "hookline":
            db = row.get("db", {})
            persisted = (
                f"yes, {db.get('answered_200', 0):,} of {db.get('answered_200', 0):,}"
                if row.get("persisted")
                else f"**NO: {db.get('missing', 0):,} of {db.get('answered_200', 0):,} lost**"
            )
        else:
            persisted = "no (stores nothing)"
        out.append(
            [
                _inbound_label(row),
                persisted,
                rate(row["rate"]),
                f"{row['rate'] / peer_rate:.2f}x" if peer_rate else "",
                ms(lat.get("p50_ms")),
                ms(lat.get("p99_ms")),
                f"{row['server_cpu_cores']:.2f}",
                f"{row['server_cpu_us_per_request']:,} µs",
                f"{row['done_after_s']:.1f} s" if row.get("done_after_s") is not None else "",
                _load(row),
            ]
        )
    head = ["server", "persisted?", "verified req/s", "vs peer", "p50", "p99"]
    head += ["server CPU (cores)", "server CPU per request", "done after last answer"]
    head.append("other load")
    if not peer.get("available"):
        notes = f"The peer was unavailable: {peer.get('reason', '')}."
    else:
        runs = ", ".join(rate(r) for r in peer.get("runs", []))
        notes = (
            f"Peer: adnanh/webhook {peer.get('version', '?')}; its figure is its faster"
            f" mode ({peer.get('mode')}), mean of {runs}."
        )
    notes += (
        f" Client: {res.get('connections')} keep-alive aiohttp connections in a closed loop"
        f" in the harness process, {res.get('warmup_s')} s warm-up then"
        f" {res.get('measure_s')} s measured per row; ~1 KiB GitHub `push` bodies signed"
        " with `X-Hub-Signature-256`, a distinct `X-GitHub-Delivery` each; only 200s count."
        " Both servers verify the same HMAC-SHA256. hookline stores each request"
        " (SQLite, `synchronous=FULL`, its default) before its 200, then routes it into a"
        " message; the database is checked afterwards for every delivery id answered 200."
        ' "Done after last answer": until hookline had routed every request (and, with an'
        " endpoint, delivered it), or the peer's last command had exited. Server CPU (its"
        " reaped children included) runs from the first measured request until then; per"
        " request it is the steadier figure on a shared machine."
    )
    return table(head, out) + "\n\n" + notes + "\n"


SECTIONS: dict[str, tuple[str, Callable[[Result], str]]] = {
    "drain": ("drain: queued deliveries, then a worker", section_drain),
    "end-to-end": ("end-to-end: publish through the API to one endpoint", section_end_to_end),
    "fan-out": ("fan-out: 1 message to 100 endpoints", section_fanout),
    "isolation": ("isolation: 50 of 100 endpoints never answer", section_isolation),
    "publish-under-load": (
        "publish-under-load: the API while a worker drains a backlog",
        section_publish_load,
    ),
    "backlog": ("backlog: 1,000,000 queued deliveries", section_backlog),
    "inbound": ("inbound: signed GitHub webhooks received, verified and stored", section_inbound),
}


def _other_load(scenarios: Result) -> str:
    """CPU used by processes outside the harness, per scenario (a 2-core box is shared)."""
    cells = [
        f"{name} {entry['other_load_cores']:.2f}"
        for name, entry in scenarios.items()
        if entry.get("other_load_cores") is not None
    ]
    if not cells:
        return "not measured"
    return "average cores used by other processes: " + ", ".join(cells)


def markdown(run: Result) -> str:
    machine = run.get("machine", {})
    commit = run.get("commit", {})
    commit_text = (
        f"`{commit.get('commit', '?')}` ({commit.get('subject', '')})"
        + describe_commit(commit).split("`", 2)[2]
        + " at the start"
    )
    parts = [
        BEGIN,
        "<!-- Generated by `make bench` (bench/report.py): edits between these markers"
        " are overwritten. -->",
        "",
        "## Latest run",
        "",
        table(
            ["", ""],
            [
                ["date", run.get("finished_at", "?")],
                [
                    "machine",
                    f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores,"
                    f" {machine.get('memory_gib', '?')} GiB, Linux {machine.get('kernel', '?')}",
                ],
                [
                    "software",
                    f"Python {machine.get('python', '?')}, SQLite {machine.get('sqlite', '?')},"
                    f" aiohttp {machine.get('aiohttp', '?')}",
                ],
                ["commit", commit_text],
                ["command", f"`{run.get('command', '?')}`"],
                ["other load", _other_load(run.get("scenarios", {}))],
                [
                    "settings",
                    "hookline with its defaults (nothing set but the data folder and the"
                    " admin token, `--dev` for loopback endpoints: SQLite synchronous=FULL,"
                    " worker concurrency 128, maxInFlight 8 per endpoint) unless a row says"
                    f" otherwise; bare senders {CEILING_CONCURRENCY} requests in flight;"
                    " ~1 KiB JSON payloads; one raw-asyncio receiver process on 127.0.0.1",
                ],
            ],
        ),
        "",
        "### Targets",
        "",
        table(
            ["target", "status", "figures"],
            [[t["target"], f"**{t['status']}**", t["figure"]] for t in run.get("targets", [])],
        ),
    ]
    scenarios = run.get("scenarios", {})
    for key, (title, render) in SECTIONS.items():
        parts += ["", f"### {title}", ""]
        entry = scenarios.get(key)
        if entry is None:
            parts.append("Not measured yet: `make bench SCENARIO=" + key + "`.")
            continue
        provenance = _provenance(entry, run).strip()
        if provenance:
            parts += [provenance, ""]
        other = entry.get("other_load_cores")
        if other is not None and other > 0.1:
            parts += [
                f"**Disturbed:** other processes on the machine used {other:.2f} cores on"
                " average while this scenario ran (from /proc/stat); figures measured under"
                " that load read low (rows with an 'other load' column show which).",
                "",
            ]
        if entry.get("result") is not None:
            try:
                parts.append(render(entry["result"]))
            except (KeyError, TypeError, IndexError) as exc:
                parts.append(f"Could not render this scenario's results: {exc!r}")
        if entry.get("error"):
            parts.append(f"**The scenario failed:** {entry['error']}")
    parts += ["", END]
    text = "\n".join(p for p in parts if p is not None)
    return re.sub(r"\n{3,}", "\n\n", text) + "\n"


def write_doc(text: str, path: Path = DOC) -> None:
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = doc.find(BEGIN), doc.find(END)
    if start >= 0 and end > start:
        doc = doc[:start] + text.rstrip("\n") + doc[end + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)
