"""hookline's pytest plugin: ``webhook_receiver``, ``sign_request`` and ``hookline_server``.

Registered by the ``pytest11`` entry point, so pytest loads this module in every run of any
project with hookline installed: it imports only pytest and the standard library here, and
the receiver, the signers and the server inside the fixtures that use them.

Settings (``pytest.ini``/``pyproject.toml`` ``[tool.pytest.ini_options]``, or the command line):

- ``hookline_server_scope`` / ``--hookline-server-scope``: ``session`` (default),
  ``package``, ``module``, ``class`` or ``function``: how widely one server is shared.
- ``hookline_server_env``: lines of ``HOOKLINE_NAME=value`` for the server, over the
  test defaults (``HOOKLINE_RETRY_SCHEDULE=0.2,0.4,0.8``, ``HOOKLINE_REQUEST_TIMEOUT=5``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hookline.testing.receiver import ThreadedReceiver
    from hookline.testing.server import HooklineServer
    from hookline.testing.signers import SignedRequest

SCOPES = ("session", "package", "module", "class", "function")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hookline")
    group.addoption(
        "--hookline-server-scope",
        choices=SCOPES,
        default=None,
        help="how widely one hookline_server is shared (default: session)",
    )
    parser.addini("hookline_server_scope", "how widely one hookline_server is shared", "string")
    parser.addini("hookline_server_env", "HOOKLINE_NAME=value lines for the server", "linelist")


def _scope_setting(config: pytest.Config) -> str:
    scope = config.getoption("hookline_server_scope") or config.getini("hookline_server_scope")
    return str(scope or "session")


def pytest_configure(config: pytest.Config) -> None:
    if _scope_setting(config) not in SCOPES:
        raise pytest.UsageError(f"hookline_server_scope must be one of {', '.join(SCOPES)}")


def _server_scope(fixture_name: str, config: pytest.Config) -> Any:
    return _scope_setting(config)


def _server_env(config: pytest.Config) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in config.getini("hookline_server_env"):
        name, sep, value = line.partition("=")
        if not sep or not name.strip().startswith("HOOKLINE_"):
            raise pytest.UsageError(f"hookline_server_env: {line!r} is not HOOKLINE_NAME=value")
        env[name.strip()] = value.strip()
    return env


@pytest.fixture
def webhook_receiver() -> Iterator[ThreadedReceiver]:
    """A started HTTP server on 127.0.0.1 (ephemeral port) that records every request and
    answers 200 unless scripted: ``url(path)``, ``requests(path)``, ``wait_for(n, path,
    timeout)`` (``await wait_for_async(...)`` in async tests), ``fail(path, times, status)``,
    ``timeout(path, seconds, times)``, ``gone(path)``, ``script(path, statuses, ...)``."""
    from hookline.testing.receiver import ThreadedReceiver

    with ThreadedReceiver() as receiver:
        yield receiver


@pytest.fixture
def sign_request() -> Callable[..., SignedRequest]:
    """:func:`hookline.testing.sign_request`: a request signed as a provider signs it."""
    from hookline.testing.signers import sign_request

    return sign_request


@pytest.fixture(scope=_server_scope)
def hookline_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HooklineServer]:
    """A real ``hookline serve --dev`` on a temporary SQLite, a random admin token and a
    free 127.0.0.1 port, stopped at the end of its scope whatever the tests did."""
    from hookline.testing.server import HooklineServer

    server = HooklineServer(tmp_path_factory.mktemp("hookline"), _server_env(request.config))
    with server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test that used ``hookline_server`` shows what the server printed."""
    report = yield
    server = getattr(item, "funcargs", {}).get("hookline_server")
    if report.failed and server is not None and hasattr(server, "output"):
        report.sections.append(("hookline server output", server.output()[-20000:]))
    return report
