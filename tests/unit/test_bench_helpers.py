"""The benchmark harness's own arithmetic and process-tree accounting.

The figures in docs/benchmarks.md rest on these: a slice rate computed from the wrong
mark, or a worker child missed by the tree walk, would misreport a target."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.harness import percentile, slice_rates
from bench.processes import Proc, descendants
from bench.targets import targets

# A parent whose child says "ready" once it runs Python (so it has a resident set).
GRANDCHILD = "import time; print('ready', flush=True); time.sleep(30)"
CHILD = (
    "import subprocess, sys, time\n"
    f"child = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}])\n"
    "time.sleep(30)\n"
)


def test_slice_rates_start_at_the_first_arrival_and_run_mark_to_mark() -> None:
    # 1 arrival at t=100, the 10th at t=101, the 20th at t=103.
    rates = slice_rates(100.0, [(10, 101.0), (20, 103.0)])
    assert rates == [pytest.approx(9.0), pytest.approx(5.0)]
    assert slice_rates(100.0, []) == []


def test_percentile_counts_missing_values_as_infinitely_late() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert percentile([1.0] * 98, 99, missing=2) is None
    assert percentile([1.0] * 99, 99, missing=1) == 1.0


def _backlog(slices: list[float], delivered: int) -> dict[str, object]:
    shallow = {"rate": 1000.0}
    deep = {
        "rate": 1000.0,
        "queued": 300,
        "delivered": delivered,
        "complete": delivered >= 300,
        "slice": 100,
        "slice_rates": slices,
    }
    worst = min(slices) / 1000.0
    result = {"rows": [shallow, deep], "ratio": 1.0, "worst_slice_ratio": worst}
    return {"backlog": {"result": result}}


def _status(scenarios: dict[str, object], prefix: str) -> str:
    rows = [t for t in targets(scenarios) if t["target"].startswith(prefix)]
    assert len(rows) == 1
    return str(rows[0]["status"])


def test_backlog_target_fails_on_one_slow_slice_or_an_unfinished_drain() -> None:
    prefix = "backlog: every"
    assert _status(_backlog([950.0, 900.0, 850.0], 300), prefix) == "met"
    assert _status(_backlog([950.0, 700.0, 850.0], 300), prefix) == "not met"
    assert _status(_backlog([950.0, 900.0], 200), prefix) == "not met"


def test_a_process_tree_counts_every_descendant(tmp_path: Path) -> None:
    log = tmp_path / "parent.log"
    with log.open("wb") as out:
        popen = subprocess.Popen([sys.executable, "-c", CHILD], stdout=out)
    proc = Proc("parent", popen, log)
    try:
        deadline = time.monotonic() + 10
        while b"ready" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.02)
        children = descendants(popen.pid)
        assert len(children) == 1
        peaks = proc.tree_peaks()
        assert [p["pid"] for p in peaks] == [popen.pid, children[0]]
        assert all(p["peak_rss_mb"] > 1 for p in peaks)
        assert (proc.cpu_seconds() or 0) > 0
    finally:
        proc.kill_children()
        popen.kill()
        popen.wait(timeout=10)
    assert proc.tree() == []
