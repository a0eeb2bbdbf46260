"""Fixtures of the inbound tests; the server kit is ``inbound_kit``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inbound_kit import Served, serve

from hookline.testing import Receiver


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Served]:
    async with serve(tmp_path) as served:
        yield served


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as rx:
        yield rx
