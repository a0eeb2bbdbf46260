"""Nothing shaped like a secret reaches a log line, whatever the log call passed: the
message, its arguments, ``extra`` values (nested too) and exception text, in both formats.
"""

from __future__ import annotations

import io
import json
import logging
import secrets

import pytest

from hookline import logs

SHAPES = [
    "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsk_" + secrets.token_urlsafe(32),
    "whpk_" + secrets.token_urlsafe(32),
    "hk_" + secrets.token_urlsafe(32),
    "hlk_" + secrets.token_urlsafe(24),
    "appsk_" + secrets.token_urlsafe(24),
    "integsk_" + secrets.token_urlsafe(24),
    "Bearer " + secrets.token_urlsafe(24),
    "bearer " + secrets.token_hex(16),
    "Basic " + "dXNlcjpwYXNzd29yZA==",
]


def _material(secret: str) -> str:
    """The part that must go: what follows the prefix or the scheme."""
    return secret.split(" ", 1)[1] if " " in secret else secret.split("_", 1)[1]


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("hookline.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize("secret", SHAPES, ids=lambda s: s.split("_")[0].split(" ")[0])
def test_the_filter_redacts_message_arguments_and_extras(secret: str) -> None:
    record = _record(
        "sent with %s",
        {"authorization": secret},
        event="x",
        detail=f"header: {secret}",
        nested={"headers": [secret]},
    )
    assert logs.RedactSecrets().filter(record)
    seen = repr(vars(record))
    assert _material(secret) not in seen
    assert logs.REDACTED in record.getMessage()
    assert (
        record.detail
        == f"header: {secret.split(' ')[0].split('_')[0]}"
        + (" " if " " in secret else "_")
        + logs.REDACTED
    )
    assert record.event == "x"


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("secret", SHAPES, ids=lambda s: s.split("_")[0].split(" ")[0])
def test_no_line_carries_a_secret(fmt: str, secret: str) -> None:
    out = io.StringIO()
    logger = logging.getLogger(f"hookline.test.redaction.{fmt}")
    logger.propagate, logger.level = False, logging.DEBUG
    handler = logs.make_handler(out, fmt, process="worker-1")
    logger.addHandler(handler)
    try:
        logger.warning("token %s", secret, extra={"event": "e", "value": secret})
        try:
            raise ValueError(f"refused {secret}")
        except ValueError:
            logger.exception("failed", extra={"event": "f"})
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert _material(secret) not in text
    assert text.count(logs.REDACTED) >= (3 if fmt == "json" else 2)  # text shows no extras
    if fmt == "json":
        first = json.loads(text.splitlines()[0])
        assert first["event"] == "e" and first["process"] == "worker-1"
        assert first["value"].endswith(logs.REDACTED)


def test_what_is_not_a_secret_is_left_alone() -> None:
    """Ids, event names and words that merely contain a prefix stay readable."""
    text = "msg_2abcDEF endpoint ep_0ERvp check_hk_value thwhsec_x Bearer-less bearer: basic"
    assert logs.redact(text) == text


def test_json_lines_have_the_stable_keys_and_rfc3339_utc_time() -> None:
    out = io.StringIO()
    logger = logging.getLogger("hookline.test.keys")
    logger.propagate, logger.level = False, logging.INFO
    handler = logs.make_handler(out, "json")
    logger.addHandler(handler)
    try:
        logger.info("plain")
    finally:
        logger.removeHandler(handler)
    line = json.loads(out.getvalue())
    assert {"time", "level", "event", "logger", "message"} <= line.keys()
    assert line["level"] == "INFO" and line["logger"] == "hookline.test.keys"
    assert line["event"] == "hookline_test_keys"  # no event given: the logger's name
    assert line["time"].endswith("Z") and line["time"][10] == "T"
