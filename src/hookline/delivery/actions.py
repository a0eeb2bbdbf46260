"""Runs an endpoint's local action (``action://NAME``) in place of an HTTP send.

Safer than a shell hook: the command is the argv the actions file declares; the event can
only fill the arguments declared as expressions (one argument each, never more, never
read by a shell). The child gets a minimal environment, its own process group (killed
whole on timeout, and of any leftovers when the command exits) and at most the action's
``concurrency`` runs at once in this worker. Its exit status, stdout and stderr become
the attempt: exit 0 is a success recorded as status 200; anything else is a failure
(``action_failed``, or ``timeout``) retried like an HTTP failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import orjson

from hookline.delivery.action_config import LEASE_HEADROOM_S, ActionSpec, Expression
from hookline.delivery.sender import Outcome
from hookline.filters import EvaluationFailed, value_of
from hookline.models import DeliveryTask, ErrorKind, action_name

SUCCESS_STATUS = 200  # what an attempt of an action that exited 0 records
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_READ_CHUNK = 64 * 1024
_AFTER_KILL_S = 2.0  # how long output is still read after the process group was killed
# A run lasts at most its timeout plus this (reaping and reading after the kill); the
# actions file keeps timeouts LEASE_HEADROOM_S under the lease, which covers it.
_RUN_MARGIN_S = 2 * _AFTER_KILL_S + 0.5
assert _RUN_MARGIN_S < LEASE_HEADROOM_S


class _Failed(Exception):
    def __init__(self, body: str, kind: ErrorKind = ErrorKind.ACTION_FAILED) -> None:
        super().__init__(body)
        self.body, self.kind = body, kind


class ActionRunner:
    def __init__(self, actions: Mapping[str, ActionSpec], max_output: int = 20 * 1024) -> None:
        """``max_output``: characters of exit status, stdout and stderr kept per attempt."""
        self._actions = dict(actions)
        self._max_output = max_output
        self._slots = {name: asyncio.Semaphore(a.concurrency) for name, a in actions.items()}

    async def run(self, task: DeliveryTask) -> Outcome:
        """The action's outcome; like ``Sender.send``, nothing it does raises out of here."""
        started_wall, started = time.time(), time.perf_counter()
        name = action_name(task.url) or ""
        spec = self._actions.get(name)
        try:
            if spec is None:
                raise _Failed(f"action {name!r} is not declared in the actions file")
            argv = [*spec.command, *await _arguments(spec, task)]
            body = await self._run_in_slot(spec, task, argv)
            status, kind = SUCCESS_STATUS, None
        except _Failed as failed:
            body, status, kind = failed.body, 0, failed.kind
        elapsed = int((time.perf_counter() - started) * 1000)
        return Outcome(status, body, elapsed, kind, None, int(started_wall * 1000))

    async def _run_in_slot(self, spec: ActionSpec, task: DeliveryTask, argv: list[str]) -> str:
        """Wait for one of the action's slots, but only as long as the delivery's lease
        still has room for a whole run after it: past that the attempt fails (and is
        retried) rather than finishing under a lease another claim may own. Meanwhile
        the worker counts the wait as a slow send, so it holds no fast sender slot."""
        slot = self._slots[spec.name]
        room = task.lease_until / 1000 - time.time() - spec.timeout - _RUN_MARGIN_S
        try:
            async with asyncio.timeout(max(room, 0.0)):
                await slot.acquire()
        except TimeoutError:
            raise _Failed(
                f"no free run of action {spec.name!r} in time (concurrency"
                f" {spec.concurrency}); the delivery is retried",
                ErrorKind.TIMEOUT,
            ) from None
        try:
            return await self._execute(spec, task, argv)
        finally:
            slot.release()

    async def _execute(self, spec: ActionSpec, task: DeliveryTask, argv: list[str]) -> str:
        env = {
            **BASE_ENV,
            "HOOKLINE_ACTION": spec.name,
            "HOOKLINE_MSG_ID": task.msg_id,
            "HOOKLINE_EVENT_TYPE": task.event_type,
            **spec.env,
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if spec.stdin_payload else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=spec.workdir,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            raise _Failed(f"could not start action {spec.name!r}: {exc}") from None
        assert proc.stdout is not None and proc.stderr is not None
        out, err = _Capture(self._max_output), _Capture(self._max_output)
        readers = [
            asyncio.ensure_future(out.read(proc.stdout)),
            asyncio.ensure_future(err.read(proc.stderr)),
        ]
        feeder = asyncio.ensure_future(_feed(proc, task.payload if spec.stdin_payload else None))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(spec.timeout):
                    await proc.wait()
            except TimeoutError:
                timed_out = proc.returncode is None  # else only leftovers held its pipes
            # whatever is left of the run: leftovers of a command that exited (which may
            # hold its pipes open), or the whole timed-out run
            _kill_group(proc.pid)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_AFTER_KILL_S):
                    await proc.wait()
            await asyncio.wait(readers, timeout=_AFTER_KILL_S)
        finally:
            if proc.returncode is None:  # cancelled (shutdown): no orphan keeps running
                _kill_group(proc.pid)
            feeder.cancel()
            for reader in readers:
                reader.cancel()
        if timed_out:
            head = f"timed out after {spec.timeout:g}s: process group killed"
        elif proc.returncode is not None and proc.returncode < 0:
            head = f"killed by signal {-proc.returncode}"
        else:
            head = f"exit status {proc.returncode}"
        body = _report(head, out, err, self._max_output)
        if timed_out:
            raise _Failed(body, ErrorKind.TIMEOUT)
        if proc.returncode != 0:
            raise _Failed(body)
        return body


async def _arguments(spec: ActionSpec, task: DeliveryTask) -> list[str]:
    """The declared arguments, each expression filling exactly one (off the event loop:
    an expression may use its whole budget)."""
    if not any(isinstance(a, Expression) for a in spec.args):
        return [a for a in spec.args if isinstance(a, str)]
    return await asyncio.to_thread(_fill, spec, task)


def _fill(spec: ActionSpec, task: DeliveryTask) -> list[str]:
    try:
        payload = orjson.loads(task.payload)
    except orjson.JSONDecodeError:
        payload = None
    document = {
        "payload": payload,
        "headers": dict(task.original_headers or {}),
        "event_type": task.event_type,
        "msg_id": task.msg_id,
    }
    args = []
    for i, arg in enumerate(spec.args):
        if isinstance(arg, str):
            args.append(arg)
            continue
        try:
            value = value_of(arg.jmespath, document)
        except EvaluationFailed as exc:
            raise _Failed(f"argument {i + 1} ({arg.jmespath}) could not be filled: {exc}") from None
        text = _as_argument(value)
        if "\0" in text:
            raise _Failed(f"argument {i + 1} ({arg.jmespath}) holds a NUL character")
        args.append(text)
    return args


def _as_argument(value: Any) -> str:
    """A string as it is; any other JSON value (null included) written compactly."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def _feed(proc: asyncio.subprocess.Process, data: bytes | None) -> None:
    """The payload on stdin, then EOF; a command that does not read it is no error."""
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            proc.stdin.write(data)
            await proc.stdin.drain()
        proc.stdin.close()
        await proc.stdin.wait_closed()


class _Capture:
    """The first ``limit`` bytes of a stream and its total size; the rest is read and
    dropped, so a chatty command never blocks on a full pipe."""

    def __init__(self, limit: int) -> None:
        self.kept = bytearray()
        self.total = 0
        self._limit = limit

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(_READ_CHUNK):
            self.total += len(chunk)
            if len(self.kept) < self._limit:
                self.kept += chunk[: self._limit - len(self.kept)]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _report(head: str, out: _Capture, err: _Capture, limit: int) -> str:
    """``exit status N`` then stdout and stderr, within ``limit`` characters in all: the
    shorter stream is kept whole when it fits, the longer one gets the rest."""
    room = max(limit - len(head) - 128, 0)  # 128: the two section lines
    out_full = out_text = out.kept.decode("utf-8", errors="replace")
    err_full = err_text = err.kept.decode("utf-8", errors="replace")
    half = room // 2
    if len(out_text) + len(err_text) > room:
        if len(out_text) <= half:
            err_text = err_text[: room - len(out_text)]
        elif len(err_text) <= half:
            out_text = out_text[: room - len(err_text)]
        else:
            out_text, err_text = out_text[:half], err_text[: room - half]
    parts = [head]
    streams = (("stdout", out_text, out_full, out), ("stderr", err_text, err_full, err))
    for label, text, full, capture in streams:
        if not capture.total:
            continue
        shortened = capture.total > len(capture.kept) or len(text) < len(full)
        cut = f" (truncated; {capture.total} bytes in all)" if shortened else ""
        parts.append(f"--- {label}{cut} ---\n{text}")
    return "\n".join(parts)[:limit]
