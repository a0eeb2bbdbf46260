"""One table (and its notes) per scenario for docs/benchmarks.md."""

from __future__ import annotations

from collections.abc import Callable

from bench.formats import Result, latency_cells, load_cell, mb, ms, pct, procs_cell, rate, table


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
            kind = "defaults" if row.get("defaults", True) else "settings"
            label = f"hookline worker, {kind}: {row['label']}, {n} worker process"
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
                procs_cell(row) or mb(row.get("worker_peak_rss_mb")),
                f"{row['worker_cpu_cores']:.2f} cores, {cpu:,.0f} µs/delivery" if cpu else "",
                persisted,
                load_cell(row),
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
    return procs_cell(res) or mb(res.get("server_peak_rss_mb"))


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
                procs_cell(row) or mb(row.get("worker_peak_rss_mb")),
                f"{row['shutdown_seconds']:.1f} s",
                load_cell(row),
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
                procs_cell(row),
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
                load_cell(row),
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


def section_insights(res: Result) -> str:
    fill = res["fill"]
    intro = (
        f"{fill['messages']:,} messages over a week (20 applications, 100 endpoints),"
        f" {fill['deliveries']:,} deliveries, {fill['attempts']:,} attempts on SQLite;"
        f" rollups folded from {res['fold_rows']:,} rows in {res['fold_seconds']:.0f} s,"
        " the last two minutes left to the reads. Each read five times in a row."
    )
    rows = [
        [r["verb"], f"{r['median_ms']:.1f}", f"{r['max_ms']:.1f}", str(r["returned"])]
        for r in res["rows"]
    ]
    return intro + "\n\n" + table(["read", "median ms", "worst ms", "returned"], rows)


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
    "insights": ("insights: the dashboard's reads over 1,000,000 messages", section_insights),
}
