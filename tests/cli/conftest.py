"""Fixtures of the CLI tests: one real server per test module (see ``cli_server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_server import Cli, ThreadedServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    live = ThreadedServer(tmp_path_factory.mktemp("hookline")).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def cli(server: ThreadedServer, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(server, tmp_path_factory.mktemp("config") / "config.toml")
