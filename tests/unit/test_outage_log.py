"""A background loop's failures: an outage is a warning every few seconds, a bug a traceback."""

from __future__ import annotations

import logging
import time

import pytest

from hookline.errors import OutageLog, StoreError, StoreUnavailable

LOGGER = "hookline.test_outage"


def _fail(outage: OutageLog, exc: Exception) -> None:
    try:
        raise exc
    except Exception as caught:
        outage.failed(caught)


def test_an_outage_is_one_warning_per_period_then_one_line_on_recovery(caplog):
    caplog.set_level(logging.DEBUG, LOGGER)
    outage = OutageLog(logging.getLogger(LOGGER), "claiming", every_s=0.2)
    outage.ok()  # nothing to report yet
    started = time.monotonic()
    tries = 0
    while time.monotonic() - started < 0.5:
        _fail(outage, StoreUnavailable("connection refused"))
        tries += 1
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    outage.ok()
    outage.ok()

    records = caplog.records
    assert tries > 10
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert "claiming paused" in records[0].getMessage()
    assert "connection refused" in records[0].getMessage()
    assert [r.getMessage() for r in records].count(records[-1].getMessage()) == 1
    assert "claiming resumed" in records[-1].getMessage()
    periods = len(records) - 2  # the "still paused" lines
    assert 1 <= periods <= elapsed / 0.2 + 1


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), StoreError("bad SQL")])
def test_other_failures_keep_their_traceback_at_the_same_pace(caplog, exc):
    caplog.set_level(logging.DEBUG, LOGGER)
    outage = OutageLog(logging.getLogger(LOGGER), "fan-out", every_s=60)
    for _ in range(20):
        _fail(outage, exc)
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[1] is exc
    assert "fan-out failed" in record.getMessage()
