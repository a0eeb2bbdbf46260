"""The issue's targets, each met, not met or not measured, with its figures."""

from __future__ import annotations

from collections.abc import Callable

from bench.formats import Result, mb, ms, pct, rate


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
