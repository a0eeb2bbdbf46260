"""Endpoints that run a local action (``action://NAME``) instead of POSTing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from engine_kit import Engine, EngineFactory, now_ms

from hookline import ids
from hookline.delivery.action_config import ActionSpec, Expression
from hookline.delivery.actions import ActionRunner
from hookline.models import DeliveryStatus, DeliveryTask, ErrorKind, Message, TriggerType
from hookline.store.base import AttemptFilter, PageRequest

SCRIPT = str(Path(__file__).with_name("action_script.py"))


def action(name: str, mode: str, *args: str | Expression, **kw: object) -> ActionSpec:
    """The test script as an action; timeouts stay under the test engine's lease."""
    kw.setdefault("timeout", 3.0)
    command = (sys.executable, SCRIPT, mode)
    return ActionSpec(name=name, command=command, args=args, **kw)  # type: ignore[arg-type]


async def attempts_of(e: Engine, msg_id: str):  # type: ignore[no-untyped-def]
    page = await e.store.list_attempts(
        e.app.id, AttemptFilter(), PageRequest(limit=50, reverse=True), msg_id=msg_id
    )
    return list(reversed(page.data))


async def wait_attempts(e: Engine, msg_id: str, n: int):  # type: ignore[no-untyped-def]
    async def enough() -> bool:
        return len(await attempts_of(e, msg_id)) >= n

    await e.until(enough)
    return await attempts_of(e, msg_id)


async def publish(e: Engine, payload: object, headers: dict[str, str] | None = None) -> Message:
    t = now_ms()
    msg = Message(
        id=ids.new_id("msg"),
        app_id=e.app.id,
        event_type="push",
        payload=json.dumps(payload).encode(),
        created_at=t,
        headers=headers,
    )
    return (await e.store.publish(msg, t)).message


async def test_arguments_are_filled_from_the_event_one_each_and_never_by_a_shell(
    engine: EngineFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOOKLINE_SERVER_ONLY", "must-not-leak")
    spec = action(
        "deploy",
        "echo",
        "--ref",
        Expression("payload.ref"),
        Expression('headers."x-github-event"'),
        Expression("payload.commits"),
        Expression("payload.missing"),
        Expression("event_type"),
        env={"DEPLOY_ENV": "test"},
        workdir=tmp_path,
    )
    e = await engine(actions=ActionRunner({"deploy": spec}))
    ep = await e.endpoint("/unused", url="action://deploy")
    payload = {"ref": "; rm -rf / $(id) `id` | cat", "commits": ["a b", "$(id)", "--x"]}
    msg = await publish(e, payload, {"x-github-event": "push event"})
    [attempt] = await wait_attempts(e, msg.id, 1)
    assert (attempt.url, attempt.status, attempt.response_status) == (
        "action://deploy",
        DeliveryStatus.SUCCESS,
        200,
    )
    assert attempt.error_kind is None and attempt.endpoint_id == ep.id
    head, out_line, stdout, err_line, stderr = attempt.response_body.split("\n")
    assert head == "exit status 0"
    assert (out_line, err_line, stderr) == ("--- stdout ---", "--- stderr ---", "to stderr")
    seen = json.loads(stdout)
    assert seen["argv"] == [
        "--ref",
        "; rm -rf / $(id) `id` | cat",
        "push event",
        '["a b","$(id)","--x"]',
        "null",
        "push",
    ]
    assert "HOOKLINE_SERVER_ONLY" not in seen["env"]
    assert seen["env"]["DEPLOY_ENV"] == "test"
    assert seen["env"]["HOOKLINE_MSG_ID"] == msg.id
    assert seen["cwd"] == str(tmp_path)


async def test_a_payload_cannot_add_arguments(engine: EngineFactory) -> None:
    spec = action("a", "echo", Expression("payload.list"), "fixed", Expression("payload.s"))
    e = await engine(actions=ActionRunner({"a": spec}))
    await e.endpoint("/unused", url="action://a")
    msg = await publish(e, {"list": ["x", "y", "z", "w"], "s": "one\ntwo three"})
    [attempt] = await wait_attempts(e, msg.id, 1)
    seen = json.loads(attempt.response_body.split("\n")[2])
    assert seen["argv"] == ['["x","y","z","w"]', "fixed", "one\ntwo three"]


async def test_the_payload_on_stdin(engine: EngineFactory) -> None:
    e = await engine(actions=ActionRunner({"cat": action("cat", "stdin", stdin_payload=True)}))
    await e.endpoint("/unused", url="action://cat")
    msg = await publish(e, {"hello": "world"})
    [attempt] = await wait_attempts(e, msg.id, 1)
    assert attempt.response_body.split("\n")[2] == '{"hello": "world"}'


async def test_long_output_is_truncated_like_a_response_body(engine: EngineFactory) -> None:
    runner = ActionRunner({"spam": action("spam", "spam", "300000")}, max_output=2048)
    e = await engine(actions=runner)
    await e.endpoint("/unused", url="action://spam")
    msg = await publish(e, {})
    [attempt] = await wait_attempts(e, msg.id, 1)
    body = attempt.response_body
    assert len(body) <= 2048
    assert "--- stdout (truncated; 300000 bytes in all) ---\nooo" in body
    assert "--- stderr (truncated; 300000 bytes in all) ---\neee" in body
    assert abs(body.count("o") - body.count("e")) < 64  # both halves kept


async def test_non_zero_exit_fails_and_is_retried_until_it_succeeds(
    engine: EngineFactory, tmp_path: Path
) -> None:
    counter = str(tmp_path / "runs")
    e = await engine(
        schedule=(0.1, 0.1, 0.1),
        actions=ActionRunner({"flaky": action("flaky", "flaky", counter, "2")}),
    )
    await e.endpoint("/unused", url="action://flaky")
    msg = await publish(e, {})
    attempts = await wait_attempts(e, msg.id, 3)
    assert [a.error_kind for a in attempts] == [ErrorKind.ACTION_FAILED] * 2 + [None]
    assert [a.status for a in attempts] == [DeliveryStatus.FAILED] * 2 + [DeliveryStatus.SUCCESS]
    assert [a.response_status for a in attempts] == [0, 0, 200]
    assert attempts[0].response_body.startswith("exit status 3\n--- stdout ---\nrun 1")
    assert attempts[2].response_body.startswith("exit status 0\n--- stdout ---\nrun 3")
    [delivery] = await e.store.list_deliveries(e.app.id, msg.id)
    assert delivery.status is DeliveryStatus.SUCCESS


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def test_timeout_kills_the_process_and_its_children(
    engine: EngineFactory, tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    spec = action("hang", "hang", str(pids), timeout=1.0)
    e = await engine(schedule=(60.0,), actions=ActionRunner({"hang": spec}))
    await e.endpoint("/unused", url="action://hang")
    msg = await publish(e, {})
    [attempt] = await wait_attempts(e, msg.id, 1)
    assert attempt.error_kind is ErrorKind.TIMEOUT
    assert attempt.response_body.startswith("timed out after 1s: process group killed")
    assert "started" in attempt.response_body
    parent, child = (int(p) for p in pids.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(parent) or _alive(child)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    survivors = [pid for pid in (parent, child) if _alive(pid)]
    for pid in survivors:  # never leave them running, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


async def test_the_concurrency_limit_holds(engine: EngineFactory, tmp_path: Path) -> None:
    state = tmp_path / "overlap"
    spec = action("slow", "overlap", str(state), "0.4", concurrency=2, timeout=2.0)
    e = await engine(  # a long lease: waiting for a slot never runs out of room here
        timeout=20.0, actions=ActionRunner({"slow": spec}), max_in_flight=8, slow_after=0.05
    )
    await e.endpoint("/unused", url="action://slow")
    msgs = [await publish(e, {"n": i}) for i in range(6)]
    for msg in msgs:
        [attempt] = await wait_attempts(e, msg.id, 1)
        assert attempt.status is DeliveryStatus.SUCCESS
    in_progress, most, runs = json.loads(state.read_text())
    assert (in_progress, runs) == (0, 6)
    assert most == 2  # never more than the limit, and the limit is used


async def test_an_undeclared_action_fails_without_running_anything(
    engine: EngineFactory,
) -> None:
    e = await engine(schedule=(60.0,))
    ep = await e.endpoint("/unused", url="action://gone")
    msg = await publish(e, {})
    [attempt] = await wait_attempts(e, msg.id, 1)
    assert attempt.error_kind is ErrorKind.ACTION_FAILED
    assert attempt.response_body == "action 'gone' is not declared in the actions file"
    assert attempt.url == ep.url


def _task(url: str, lease_s: float) -> DeliveryTask:
    return DeliveryTask(
        delivery_id=ids.new_id("dlv"),
        attempts=0,
        trigger=TriggerType.SCHEDULED,
        msg_id=ids.new_id("msg"),
        app_id="app_x",
        event_type="push",
        payload=b"{}",
        msg_created_at=now_ms(),
        endpoint_id="ep_x",
        url=url,
        headers={},
        signing_keys=(),
        lease_until=now_ms() + int(lease_s * 1000),
    )


async def test_a_run_that_cannot_get_a_slot_within_its_lease_fails_and_frees_nothing(
    tmp_path: Path,
) -> None:
    state = tmp_path / "overlap"
    runner = ActionRunner({"one": action("one", "overlap", str(state), "1.0", timeout=2.0)})
    first = asyncio.ensure_future(runner.run(_task("action://one", lease_s=30)))
    while not state.exists():
        await asyncio.sleep(0.02)
    late = await runner.run(_task("action://one", lease_s=2.5))  # no room for a 2 s run
    assert late.error_kind is ErrorKind.TIMEOUT and late.status == 0
    assert "no free run of action 'one'" in late.body
    assert (await first).ok
    again = await runner.run(_task("action://one", lease_s=30))  # the slot came back
    assert again.ok
    assert json.loads(state.read_text())[1:] == [1, 2]


async def test_an_argument_that_cannot_be_filled_fails_the_run_without_starting_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "overlap"
    runner = ActionRunner(
        {"bad": action("bad", "overlap", str(state), "0", Expression("abs(payload.s)"))}
    )
    task = _task("action://bad", lease_s=30)
    task.payload = b'{"s": "not a number"}'
    outcome = await runner.run(task)
    assert outcome.error_kind is ErrorKind.ACTION_FAILED and outcome.status == 0
    assert outcome.body.startswith("argument 3 (abs(payload.s)) could not be filled: ")
    assert not state.exists()
