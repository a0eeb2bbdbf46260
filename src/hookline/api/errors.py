"""Every error leaves the API as JSON ``{"code", "detail"}``; 422 details are lists.

The Svix SDK parses 422 bodies as ``{"detail": [{"loc", "msg", "type"}]}`` and other
errors as ``{"code", "detail"}``, so both shapes carry both keys.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookline.errors import ApiError, StoreError, ValidationFailed

log = logging.getLogger("hookline.api")


def error_response(status: int, code: str, detail: Any) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail}, status_code=status)


def field_error(loc: list[str], msg: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed([{"loc": loc, "msg": msg, "type": kind}])


def _clean(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "value_error")),
            }
        )
    return out


def api_error_response(exc: ApiError) -> JSONResponse:
    detail = exc.detail
    if exc.status == 422 and not isinstance(detail, list):
        detail = [{"loc": ["body"], "msg": str(detail), "type": "value_error"}]
    return error_response(exc.status, exc.code, detail)


def validation_response(errors: Any) -> JSONResponse:
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    return error_response(422, "validation", _clean(errors))


STORE_RETRY_AFTER_S = 1


def store_error_response(exc: StoreError) -> JSONResponse:
    """503 with ``Retry-After``: the request may be retried as it is (with its
    idempotency key, if it had one); nothing about it was the client's fault."""
    log.error("store error: %s", exc)
    response = error_response(503, "store_unavailable", "storage is unavailable, retry later")
    response.headers["Retry-After"] = str(STORE_RETRY_AFTER_S)
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "authentication_failed"}
        return error_response(
            exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail)
        )

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return store_error_response(exc)
