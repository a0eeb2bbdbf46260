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
