"""Logging set-up for every hookline process: today's text lines or JSON lines, redacted.

``HOOKLINE_LOG_FORMAT=json`` gives one JSON object per line with stable keys (``time``,
``level``, ``event``, ``logger``, ``message``, and the delivery's ids where a log call
knows them), for log pipelines; the formatter is python-json-logger's. Whatever the
format, a filter on the handler rewrites anything shaped like a secret (signing secrets,
hookline's tokens, ``Bearer``/``Basic`` credentials) before a line is written: the log
calls are written not to carry secrets, and this is the last line of defence if one does.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"

# A prefix we issue or accept, then the token's characters (base64, base64url, hex).
_SECRET = re.compile(
    r"(?<![A-Za-z0-9_])(whsec_|whpk_|whsk_|hk_|hlk_|appsk_|integsk_)[A-Za-z0-9+/=_\-.]+"
    r"|(?<![A-Za-z0-9_])((?i:bearer|basic)\s+)[A-Za-z0-9+/=_\-.~]+"
)
# LogRecord's own attributes: everything else on a record came in through ``extra``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    """``text`` with every secret-shaped token replaced, its prefix kept for the reader."""
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class RedactSecrets(logging.Filter):
    """Rewrites the message (arguments merged in), every ``extra`` value and the
    exception text of each record the handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS:
                setattr(record, key, _redact_value(value))
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # formatters write exc_text, which is redacted
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class TextLines(logging.Formatter):
    """Today's format, and a final pass over the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLines(JsonFormatter):
    """One JSON object a line; ``event`` defaults to the logger's name in snake_case."""

    def __init__(self, process: str | None = None) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"process": process} if process else None,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        log_data.setdefault("event", str(log_data.get("logger", "log")).replace(".", "_"))
        if "exc_info" in log_data:
            log_data["exc_info"] = redact(str(log_data["exc_info"]))
        return log_data

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str, fmt: str = "text", process: str | None = None) -> None:
    """Send every logger's records to stderr in ``fmt`` at ``level``; idempotent (a child
    process calls it again with its name). Like ``logging.basicConfig``, it leaves alone
    a root logger that something else (an embedding program, a test runner) set up."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "hookline", False)]
    if root.handlers and not ours:
        return
    handler = make_handler(sys.stderr, fmt, process)
    for old in ours:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def make_handler(stream: TextIO, fmt: str, process: str | None = None) -> logging.Handler:
    """A handler writing to ``stream`` in ``fmt``, with the redaction filter."""
    handler = logging.StreamHandler(stream)
    handler.hookline = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonLines(process))
    else:
        text = TEXT if process is None else TEXT.replace("%(name)s", f"[{process}] %(name)s")
        handler.setFormatter(TextLines(text))
    handler.addFilter(RedactSecrets())
    return handler


def current_format() -> str:
    """The format ``configure`` set ("text" before it ran)."""
    handlers = logging.getLogger().handlers
    return "json" if any(isinstance(h.formatter, JsonLines) for h in handlers) else "text"
