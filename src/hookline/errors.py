"""hookline's error tree.

HooklineError
 +-- SignatureError          a webhook signature or its headers did not verify
 +-- ApiError                rendered by the API as {"code", "detail"} with an HTTP status
      +-- NotFound (404), Conflict (409), ValidationFailed (422),
          Unauthorized (401), PayloadTooLarge (413)
          Conflict +-- VersionConflict: the record changed between read and update
 +-- StoreError              a storage backend failed
      +-- StoreUnavailable: the database cannot be reached (yet); retry later
"""

from __future__ import annotations

import logging
import time


class HooklineError(Exception):
    """Root of every error hookline raises on purpose."""


class SignatureError(HooklineError):
    """A webhook failed verification; every parse failure lands here, never a bare ValueError."""


class ApiError(HooklineError):
    """An error the API renders as ``{"code": ..., "detail": ...}`` with ``status``."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: object, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class VersionConflict(Conflict):
    """The record's ``version`` moved since it was read: the update would have undone a
    concurrent change, so nothing was written. Re-read, re-apply, and try again."""


class ValidationFailed(ApiError):
    status = 422
    code = "validation"


class Unauthorized(ApiError):
    status = 401
    code = "authentication_failed"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class StoreError(HooklineError):
    """A storage backend failed; driver errors are wrapped into this at the boundary."""


class StoreUnavailable(StoreError):
    """The database cannot be reached: it is restarting, or the network is down. Nothing
    was written, or (a commit cut off) it is unknown whether it was; the API answers
    503 with ``Retry-After``."""

    retry_after_s = 1


class OutageLog:
    """How a background loop reports its failures without flooding the log: while the
    store cannot be reached (a database restart, say), one warning per ``every_s`` and one
    line when it answers again; any other failure keeps its traceback, at the same pace."""

    def __init__(self, log: logging.Logger, what: str, every_s: float = 5.0) -> None:
        self._log, self._what, self._every_s = log, what, every_s
        self._since: float | None = None  # monotonic start of the failures
        self._last = 0.0
        self._count = 0

    def failed(self, exc: BaseException) -> None:
        """Call from the ``except`` block of the failed step."""
        now = time.monotonic()
        self._count += 1
        if self._since is not None and now - self._last < self._every_s:
            return
        first = self._since is None
        since = self._since = now if self._since is None else self._since
        self._last = now
        if isinstance(exc, StoreUnavailable):
            state = "paused" if first else f"still paused after {now - since:.0f}s"
            self._log.warning("%s %s, the store is unavailable: %s", self._what, state, exc)
        else:
            tries = "" if first else f" ({self._count} times in {now - since:.0f}s)"
            self._log.error("%s failed%s; retrying", self._what, tries, exc_info=exc)

    def ok(self) -> None:
        """Call after a step succeeded: ends the failures, if any were reported."""
        if self._since is not None:
            self._log.warning("%s resumed after %.1fs", self._what, time.monotonic() - self._since)
            self._since, self._count = None, 0
