"""A role whose loop ends on its own takes the process down with a non-zero exit.

Otherwise a worker whose claim loop died (say, on an error it did not expect) would
leave a process that looks alive and does nothing, or one that exits 0 and is not
restarted by its supervisor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hookline import runtime
from hookline.config import Settings


class BrokenRole:
    """Stands in for a role with a bug: its loop raises at once."""

    async def run(self) -> None:
        raise RuntimeError("a bug in a loop")

    def stop(self) -> None:
        pass


async def test_a_role_that_stops_stops_the_process_with_an_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, run_api=False)
    roles = runtime.build_roles(settings)
    assert roles.worker is not None
    roles.fanout = BrokenRole()  # type: ignore[assignment]
    with pytest.raises(runtime.RoleStopped, match="hookline-fanout"):
        await asyncio.wait_for(runtime.run(roles), timeout=60)
