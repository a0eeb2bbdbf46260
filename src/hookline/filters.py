"""Payload filters (beyond Svix): a JMESPath expression an endpoint's payloads must satisfy.

The expression is evaluated against the message payload; the endpoint receives the
message when the result is truthy (JMESPath truthiness: not false, null, empty or 0-length).
Example: ``data.total >= `100` && data.currency == 'EUR'``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

MAX_FILTER_LENGTH = 1024


class InvalidFilter(ValueError):
    """The expression does not parse."""


@lru_cache(maxsize=1024)
def compile_filter(expression: str) -> ParsedResult:
    if not expression.strip() or len(expression) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"a filter is 1 to {MAX_FILTER_LENGTH} characters")
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise InvalidFilter(f"invalid filter expression: {exc}") from None


def matches(expression: str, payload: Any) -> bool:
    """False, never an exception, when the expression cannot be applied to this payload."""
    try:
        result = compile_filter(expression).search(payload)
    except (InvalidFilter, JMESPathError, TypeError, ValueError):
        return False
    if result is None or result is False:
        return False
    return not (isinstance(result, str | list | dict) and len(result) == 0)
