"""The command the action tests run (with ``sys.executable``): one behaviour per mode."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time


def _locked_update(path: str, change: int) -> None:
    """Count runs in progress in ``path`` (and the most seen at once), under a lock."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        now, most, runs = json.loads(fh.read() or "[0, 0, 0]")
        now += change
        most, runs = max(most, now), runs + (change > 0)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps([now, most, runs]))


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        sys.stdout.write(json.dumps({"argv": args, "env": dict(os.environ), "cwd": os.getcwd()}))
        sys.stderr.write("to stderr")
        return 0
    if mode == "stdin":
        sys.stdout.write(sys.stdin.read())
        return 0
    if mode == "spam":
        sys.stdout.write("o" * int(args[0]))
        sys.stderr.write("e" * int(args[0]))
        return 0
    if mode == "flaky":  # fail (exit 3) the first N runs, counted in a file
        path, failures = args[0], int(args[1])
        runs = int(open(path).read()) if os.path.exists(path) else 0
        open(path, "w").write(str(runs + 1))
        sys.stdout.write(f"run {runs + 1}")
        return 3 if runs < failures else 0
    if mode == "overlap":  # hold a run open for a while, counting runs in progress
        _locked_update(args[0], +1)
        time.sleep(float(args[1]))
        _locked_update(args[0], -1)
        return 0
    if mode == "hang":  # a child of our own, then wait forever; both pids to a file
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open(args[0], "w").write(f"{os.getpid()} {child.pid}")
        sys.stdout.write("started")
        sys.stdout.flush()
        time.sleep(600)
    return 2


if __name__ == "__main__":
    sys.exit(main())
