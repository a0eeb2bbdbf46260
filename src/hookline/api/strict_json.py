"""JSON request bodies without the values a webhook payload cannot carry faithfully.

The standard parser accepts ``NaN``, ``Infinity`` and numbers like ``1e400`` (read as
infinity), which would be sent on as ``null``. Those bodies are rejected as invalid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"number {text} is out of range", text, 0)
    return value


def _no_constants(text: str) -> float:
    raise json.JSONDecodeError(f"{text} is not valid JSON", text, 0)


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constants)


def decode_json(body: bytes) -> Any:
    try:  # json.loads' own byte handling: BOMs and UTF-16/32 detection
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        raise json.JSONDecodeError("the body is not valid UTF-8", "", 0) from None
    return _DECODER.decode(text)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = decode_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
