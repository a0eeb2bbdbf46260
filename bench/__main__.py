"""``python -m bench``: run the benchmark scenarios and write the report.

    python -m bench                      # every scenario (make bench), ~36 minutes
    python -m bench --scenario drain     # one (make bench SCENARIO=drain)
    python -m bench --quick              # reduced sizes, for developing the harness

A full run writes bench/results/latest.json and the generated part of
docs/benchmarks.md. A --quick run writes bench/results/quick.json.tmp and prints the
report instead of touching the documentation.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import report
from bench.harness import Context, Deadline, ScenarioTimeout, log, run_async
from bench.machine import commit_info, cpu_snapshot, foreign_cores, machine_info, wait_for_quiet
from bench.processes import stop_all
from bench.scenarios import (
    backlog,
    drain,
    end_to_end,
    fanout,
    inbound,
    insights,
    isolation,
    postgres,
    publish_load,
)
from bench.targets import targets

SCENARIOS: dict[str, ModuleType] = {
    "drain": drain,
    "end-to-end": end_to_end,
    "fan-out": fanout,
    "isolation": isolation,
    "publish-under-load": publish_load,
    "backlog": backlog,
    "inbound": inbound,
    "postgres": postgres,
    "insights": insights,
}
NOT_YET: dict[str, str] = {}  # scenarios named but not built yet: name -> why
RUN_BUDGET_S = 40 * 60.0  # the whole run; each scenario also has its own cap


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def run_scenario(
    name: str, module: ModuleType, work: Path, quick: bool, budget: Deadline
) -> dict[str, Any]:
    cap = min(module.CAP_QUICK_S if quick else module.CAP_FULL_S, budget.remaining() - 10)
    if cap < 30:
        log(f"=== {name}: skipped, the run's {RUN_BUDGET_S / 60:.0f}-minute budget is spent ===")
        return {"error": "skipped: the run's time budget was spent", "seconds": 0.0}
    scratch = work / name
    logs = work / "logs"
    scratch.mkdir(parents=True)
    logs.mkdir(exist_ok=True)
    log(f"=== {name} (cap {cap:.0f} s) ===")
    quiet_before = await wait_for_quiet(min(60.0, budget.remaining() / 10))
    ctx = Context(work_dir=scratch, log_dir=logs, deadline=Deadline(cap), quick=quick)
    started = time.monotonic()
    cpu_before = cpu_snapshot()
    entry: dict[str, Any] = {}
    try:
        # The scenario checks its own deadline; this is the backstop if something hangs.
        entry["result"] = await asyncio.wait_for(module.run(ctx), cap + 60)
    except (TimeoutError, ScenarioTimeout) as exc:
        entry["error"] = f"hit its time cap of {cap:.0f} s ({exc or 'timeout'})"
    except Exception as exc:
        traceback.print_exc()
        entry["error"] = f"{type(exc).__name__}: {str(exc)[:1000]}"
    finally:
        stop_all()
        shutil.rmtree(scratch, ignore_errors=True)
    entry["seconds"] = round(time.monotonic() - started, 1)
    entry["other_load_cores"] = round(foreign_cores(cpu_before, cpu_snapshot()), 3)
    entry["other_load_cores_before"] = round(quiet_before, 3)
    if entry["other_load_cores"] > 0.1:
        log(
            f"warning: other processes used {entry['other_load_cores']:.2f} cores on average"
            f" during {name}; its figures are disturbed"
        )
    if "error" in entry:
        log(f"{name} FAILED after {entry['seconds']:.0f} s: {entry['error']}")
        log(f"process logs are in {logs}")
    else:
        log(f"{name} done in {entry['seconds']:.0f} s")
    return entry


async def main(names: list[str], quick: bool, command: str, keep_logs: bool) -> int:
    run_id = f"{time.time():.0f}"
    results_path = report.RESULTS.with_name("quick.json.tmp") if quick else report.RESULTS
    data = report.load(results_path)
    commit = commit_info()
    data.update(
        {
            "run_id": run_id,
            "command": command,
            "machine": machine_info(),
            "commit": commit,
            "quick": quick,
        }
    )
    work = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    budget = Deadline(RUN_BUDGET_S)
    failures = 0
    try:
        for name in names:
            # The tree may change while a long run goes on: record it per scenario.
            scenario_commit = commit_info()
            entry = await run_scenario(name, SCENARIOS[name], work, quick, budget)
            entry.update(
                {
                    "run_id": run_id,
                    "measured_at": _now(),
                    "commit": scenario_commit,
                    "commit_after": commit_info(),
                    "command": command,
                    "machine": data["machine"],
                }
            )
            data["scenarios"][name] = entry
            # a scenario may keep the rows that ran and name the part that failed
            failures += "error" in entry or any(
                k.endswith("_error") for k in entry.get("result") or {}
            )
            data["finished_at"] = _now()
            data["targets"] = targets(data["scenarios"])
            report.save(results_path, data)  # after each scenario, so a crash keeps the rest
    finally:
        stop_all()
        if failures or keep_logs:
            log(f"keeping {work / 'logs'} (process logs)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text = report.markdown(data)
    if quick:
        print(text)
    else:
        report.write_doc(text)
        log(f"wrote {report.DOC} and {results_path}")
    for target in data["targets"]:
        log(f"target {target['status']:>12}: {target['target']} -- {target['figure']}")
    return 1 if failures else 0


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    choices = [*SCENARIOS, *NOT_YET]
    parser.add_argument("--scenario", choices=choices, action="append", help="repeatable")
    parser.add_argument("--quick", action="store_true", help="reduced sizes, for development")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    for name in names:
        if name in NOT_YET:
            print(f"{name}: not yet available ({NOT_YET[name]})")
    names = [n for n in names if n in SCENARIOS]
    command = " ".join(["python -m bench", *sys.argv[1:]])
    if not names:
        return
    try:
        code = run_async(main(names, args.quick, command, args.keep_logs))
    finally:
        stop_all()
    sys.exit(code)


if __name__ == "__main__":
    cli()
