"""The pytest plugin as an application's suite sees it: test files run through ``pytester``
with the plugin loaded (by its entry point once hookline is installed with it, else by
``-p``). One pytester run starts one ``hookline_server``: it runs the README's example
exactly as written there, and deliveries through 500s, a timeout and a 410."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "hookline.testing.pytest_plugin"
ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- pytest-plugin-example -->"


# The fixture runs go in a subprocess, as an application's suite would: an in-process run
# drops the modules it imported afterwards (httpx's lazily imported httpcore among them),
# which leaves the next in-process run with two copies of httpcore.


def _plugin_args() -> list[str]:
    """``-p`` unless the installed metadata already loads the plugin (it may not be
    registered twice under two names)."""
    declared = any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))
    return [] if declared else ["-p", PLUGIN]


def readme_example() -> str:
    """The code block after the marker in README.md, so the README and this test agree."""
    text = (ROOT / "README.md").read_text()
    assert MARKER in text, "README.md lost the pytest plugin example's marker"
    match = re.match(r"\s*```python\n(.*?)\n```", text.split(MARKER, 1)[1], re.S)
    assert match is not None, "no python code block after the README marker"
    return match.group(1) + "\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


RECEIVER_TESTS = """
import asyncio

import httpx
import pytest

import hookline.testing


def test_scripted_failures(webhook_receiver):
    webhook_receiver.fail("/h", times=2, status=500)
    url = webhook_receiver.url("/h")
    assert [httpx.post(url, content=b"x").status_code for _ in range(3)] == [500, 500, 200]
    assert [r.body for r in webhook_receiver.wait_for(3, path="/h", timeout=5)] == [b"x"] * 3


def test_gone(webhook_receiver):
    webhook_receiver.gone("/g")
    assert [httpx.post(webhook_receiver.url("/g")).status_code for _ in range(2)] == [410, 410]


def test_timeout_then_answer(webhook_receiver):
    webhook_receiver.timeout("/slow", seconds=10, times=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(webhook_receiver.url("/slow"), timeout=0.5)
    assert httpx.post(webhook_receiver.url("/slow"), timeout=5).status_code == 200
    assert len(webhook_receiver.requests("/slow")) == 2


async def test_async_wait(webhook_receiver):
    waiting = asyncio.ensure_future(webhook_receiver.wait_for_async(1, path="/a", timeout=5))
    async with httpx.AsyncClient() as client:
        await client.post(webhook_receiver.url("/a"), json={"n": 1})
    (request,) = await waiting
    assert request.json() == {"n": 1}


def test_bounded_wait(webhook_receiver):
    with pytest.raises(TimeoutError, match="expected 1 requests on /none"):
        webhook_receiver.wait_for(1, path="/none", timeout=0.2)


def test_loopback(webhook_receiver):
    assert webhook_receiver.url("x").startswith("http://127.0.0.1:")


def test_sign_request_fixture(sign_request):
    assert sign_request is hookline.testing.sign_request
    signed = sign_request("github", secret="s", body=b"{}")
    assert signed.headers["X-Hub-Signature-256"].startswith("sha256=")
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings = error
hookline_server_env =
    HOOKLINE_REQUEST_TIMEOUT=3
    HOOKLINE_RETRY_SCHEDULE=0.2,0.2,0.4
"""

CONFTEST = """
import pytest


@pytest.fixture(autouse=True)
def _record_server(request):
    \"\"\"The pid of the server each test that used one had, for the outer test.\"\"\"
    yield
    if "hookline_server" in request.fixturenames:
        with open("pids.txt", "a") as out:
            out.write(f"{request.getfixturevalue('hookline_server').pid}\\n")
"""

DELIVERY_TESTS = """
import time

import standardwebhooks.webhooks


def _endpoint(server, receiver, path):
    app = server.post("/app", {"name": "plugin test"})["id"]
    endpoint = server.post(f"/app/{app}/endpoint", {"url": receiver.url(path)})["id"]
    return app, endpoint


def _publish(server, app):
    return server.post(f"/app/{app}/msg", {"eventType": "a.b", "payload": {"n": 1}})["id"]


def _eventually(read, done, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, f"not reached in {timeout}s: {value!r}"
        time.sleep(0.1)
    return value


def _attempts(server, app, msg, count):
    data = _eventually(
        lambda: server.get(f"/app/{app}/attempt/msg/{msg}")["data"], lambda d: len(d) >= count
    )
    return sorted(data, key=lambda a: a["id"])  # ids are in time order


def test_500_500_200(hookline_server, webhook_receiver):
    webhook_receiver.fail("/flaky", times=2, status=500)
    app, _ = _endpoint(hookline_server, webhook_receiver, "/flaky")
    msg = _publish(hookline_server, app)
    got = webhook_receiver.wait_for(3, path="/flaky", timeout=30)
    assert {r.webhook_id for r in got} == {msg}
    attempts = _attempts(hookline_server, app, msg, 3)
    assert [a["responseStatusCode"] for a in attempts] == [500, 500, 200]


def test_timeout_is_retried(hookline_server, webhook_receiver):
    webhook_receiver.timeout("/slow", seconds=12, times=1)  # past HOOKLINE_REQUEST_TIMEOUT
    app, _ = _endpoint(hookline_server, webhook_receiver, "/slow")
    msg = _publish(hookline_server, app)
    webhook_receiver.wait_for(2, path="/slow", timeout=30)
    attempts = _attempts(hookline_server, app, msg, 2)
    assert [(a["errorKind"], a["statusText"]) for a in attempts] == [
        ("timeout", "fail"),
        (None, "success"),
    ]


def test_gone_disables_the_endpoint(hookline_server, webhook_receiver):
    webhook_receiver.gone("/gone")
    app, endpoint = _endpoint(hookline_server, webhook_receiver, "/gone")
    msg = _publish(hookline_server, app)
    _eventually(lambda: hookline_server.get(f"/app/{app}/endpoint/{endpoint}")["disabled"], bool)
    (attempt,) = _attempts(hookline_server, app, msg, 1)
    assert attempt["responseStatusCode"] == 410
    (state,) = hookline_server.get(f"/app/{app}/msg/{msg}/endpoint")["data"]
    assert (state["statusText"], state["nextAttempt"]) == ("fail", None)  # no retry follows
    assert len(webhook_receiver.requests("/gone")) == 1


def test_delivery_is_signed(hookline_server, webhook_receiver):
    app, endpoint = _endpoint(hookline_server, webhook_receiver, "/signed")
    secret = hookline_server.get(f"/app/{app}/endpoint/{endpoint}/secret")["key"]
    msg = _publish(hookline_server, app)
    (request,) = webhook_receiver.wait_for(1, path="/signed", timeout=30)
    verified = standardwebhooks.webhooks.Webhook(secret).verify(request.body, dict(request.headers))
    assert verified == {"n": 1} and request.webhook_id == msg


def test_svix_client(hookline_server):
    from svix.api import ApplicationIn

    app = hookline_server.svix().application.create(ApplicationIn(name="from svix"))
    assert hookline_server.get(f"/app/{app.id}")["name"] == "from svix"


def test_fails_on_purpose(hookline_server):
    assert False, "this test fails on purpose"
"""


def test_receiver_and_signer_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_receiver=RECEIVER_TESTS)
    result = pytester.runpytest_subprocess(*_plugin_args())
    result.assert_outcomes(passed=7)


def test_server_fixture_readme_example_and_deliveries(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_webhooks=readme_example(), test_deliveries=DELIVERY_TESTS)
    result = pytester.runpytest_subprocess(*_plugin_args())
    result.assert_outcomes(passed=7, failed=1)
    # the failing test's report shows what the server printed
    result.stdout.fnmatch_lines(["*hookline server output*", "hookline API: http://127.0.0.1:*"])
    pids = (pytester.path / "pids.txt").read_text().split()
    assert len(pids) == 7 and len(set(pids)) == 1, f"one server per session, got {pids}"
    pid = int(pids[0])
    assert not _alive(pid), "the server outlived the session"


def test_bad_scope_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "hookline_server_scope = forever\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(*_plugin_args())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hookline_server_scope must be one of*"])


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """pytest loads the plugin in every run of every project with hookline installed."""
    code = (
        f"import sys, {PLUGIN}\n"
        "heavy = ['aiohttp', 'httpx', 'fastapi', 'hookline.testing.receiver',\n"
        "         'hookline.testing.server', 'hookline.testing.signers', 'hookline.receive']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pyproject_declares_the_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"hookline": PLUGIN}


# Checks the installed metadata: it holds once hookline is installed from this pyproject
# (pip install -e .). An install made before the entry point existed has no pytest11 entry
# at all, and then this test skips rather than fail on the stale install.
def _installed_pytest11() -> dict[str, str]:
    try:
        found = importlib.metadata.distribution("hookline").entry_points
    except importlib.metadata.PackageNotFoundError:
        return {}
    return {ep.name: ep.value for ep in found if ep.group == "pytest11"}


_INSTALLED = _installed_pytest11()


@pytest.mark.skipif(not _INSTALLED, reason="hookline installed before its pytest11 entry point")
def test_installed_metadata_registers_the_plugin(pytester: pytest.Pytester) -> None:
    assert _INSTALLED == {"hookline": PLUGIN}
    result = pytester.runpytest("--help")  # autoloaded: no -p
    result.stdout.fnmatch_lines(["*--hookline-server-scope*"])
