"""JSON request bodies without the values a webhook payload cannot carry faithfully.

The standard parser accepts ``NaN``, ``Infinity`` and numbers like ``1e400`` (read as
infinity), which would be sent on as ``null``. Those bodies are rejected as invalid JSON
(400). Two more kinds of well-formed JSON are refused with 422 ``validation``:

- nesting deeper than ``MAX_DEPTH`` arrays and objects, the body itself counting as one.
  orjson, which stores and serves payloads, writes back at most 254 levels, so a payload
  (one level inside the message body) can be 254 deep and the body 255. Deeper bodies
  would otherwise fail later (422 on encoding) or exhaust the recursion limit (500).
- an object that repeats a key. RFC 8259 leaves the meaning open and parsers differ
  (Python and orjson keep the last value, others the first), so a signed payload could
  mean different things to hookline and to the receiver; hookline refuses to guess.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Coroutine
from itertools import accumulate
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from hookline.errors import ValidationFailed

MAX_DEPTH = 255
# Matches from every quote, closed or not, so the scan stays linear on hostile input.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_STEP = {"(": 1, ")": -1}


class _Brackets(dict[int, str | None]):
    """A ``str.translate`` table: brackets to ``(`` and ``)``, everything else dropped."""

    def __missing__(self, key: int) -> None:  # non-ASCII outside strings: invalid anyway
        return None


_BRACKETS = _Brackets(dict.fromkeys(range(128)))
_BRACKETS.update({ord("["): "(", ord("{"): "(", ord("]"): ")", ord("}"): ")"})


class RefusedJson(ValidationFailed):
    """Well-formed JSON that hookline will not take (see the module docstring)."""

    def __init__(self, kind: str, msg: str) -> None:
        super().__init__([{"loc": ["body"], "msg": msg, "type": kind}])


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"number {text} is out of range", text, 0)
    return value


def _no_constants(text: str) -> float:
    raise json.JSONDecodeError(f"{text} is not valid JSON", text, 0)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        [(key, _)] = Counter(k for k, _ in pairs).most_common(1)
        raise RefusedJson("json_duplicate_key", f"the key {key!r} appears more than once")
    return obj


_DECODER = json.JSONDecoder(
    parse_float=_finite, parse_constant=_no_constants, object_pairs_hook=_unique_keys
)


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects, string contents left out."""
    brackets = _STRING.sub("", text).translate(_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def decode_json(body: bytes) -> Any:
    """Parse a request body; ``JSONDecodeError`` if it is not JSON, ``RefusedJson``
    if it is JSON hookline refuses."""
    try:  # json.loads' own byte handling: BOMs and UTF-16/32 detection
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        raise json.JSONDecodeError("the body is not valid UTF-8", "", 0) from None
    # Counting brackets is an upper bound on the depth, and cheap: most bodies stop here.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise RefusedJson("json_too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return _DECODER.decode(text)
    except RecursionError:  # not reachable within MAX_DEPTH; kept so it can never be a 500
        raise RefusedJson("json_too_deep", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past Python's digit limit: out of range, so not JSON we take
        raise json.JSONDecodeError("a number is out of range", "", 0) from None


class _Refused(HTTPException):
    """Carries ``RefusedJson`` through FastAPI's body parsing, which turns every other
    exception raised while reading the body into a bare 400."""

    def __init__(self, error: RefusedJson) -> None:
        super().__init__(422)
        self.error = error


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = decode_json(await self.body())
            except RefusedJson as exc:
                raise _Refused(exc) from None
        return self._json


class StrictJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            try:
                return await handler(StrictJsonRequest(request.scope, request.receive))
            except _Refused as exc:
                raise exc.error from None

        return strict_handler
