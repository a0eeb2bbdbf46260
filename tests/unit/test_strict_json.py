"""The request-body decoder: nesting limit, repeated keys, and agreement with ``json``."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.api.strict_json import MAX_DEPTH, RefusedJson, decode_json


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


def refusal(body: bytes) -> str:
    with pytest.raises(RefusedJson) as caught:
        decode_json(body)
    [error] = caught.value.detail  # type: ignore[misc]
    return str(error["type"])


@pytest.mark.parametrize(("open_", "close"), [("[", "]"), ('{"k":', "}")])
def test_the_limit_is_exact_for_arrays_and_objects(open_: str, close: str) -> None:
    def nested(n: int) -> bytes:
        inner = "[]" if open_ == "[" else "{}"
        return (open_ * (n - 1) + inner + close * (n - 1)).encode()

    assert depth_of(decode_json(nested(MAX_DEPTH))) == MAX_DEPTH
    assert refusal(nested(MAX_DEPTH + 1)) == "json_too_deep"


def test_far_too_deep_is_refused_not_a_recursion_error() -> None:
    assert refusal(b"[" * 200_000 + b"]" * 200_000) == "json_too_deep"
    assert refusal(b"[" * 200_000) == "json_too_deep"  # unbalanced, still never a crash


def test_brackets_in_strings_and_escapes_do_not_count() -> None:
    tricky = json.dumps({"s": '\\"[' * MAX_DEPTH, "t": "{" * MAX_DEPTH, "u": ['"]]']})
    assert decode_json(tricky.encode())["t"] == "{" * MAX_DEPTH


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a": 1, "a": 1}', "a"),
        (b'{"x": [{"b": 1}, {"b": 2, "c": 0, "b": 3}]}', "b"),
        (b'{"\\u0061": 1, "a": 2}', "a"),  # the same key, spelled two ways
    ],
)
def test_a_repeated_key_is_refused_and_named(body: bytes, key: str) -> None:
    with pytest.raises(RefusedJson) as caught:
        decode_json(body)
    [error] = caught.value.detail  # type: ignore[misc]
    assert error["type"] == "json_duplicate_key" and repr(key) in error["msg"]


def test_the_depth_scan_is_linear_on_unclosed_quotes() -> None:
    """Quotes that never close must not make the string scan restart at each one.

    Ratio of two sizes, generously bounded: linear is ~16x, quadratic would be ~256x.
    """

    def cost(n: int) -> float:
        body = ("[" * (MAX_DEPTH + 1) + '"\\' * n).encode()
        started = time.perf_counter()
        with pytest.raises((RefusedJson, json.JSONDecodeError)):
            decode_json(body)
        return time.perf_counter() - started

    small = min(cost(5_000) for _ in range(5))
    large = min(cost(80_000) for _ in range(5))
    assert large / small < 80, (small, large)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(value=JSON, wrap=st.integers(min_value=0, max_value=MAX_DEPTH + 5))
def test_agrees_with_json_loads_within_the_limit(value: Any, wrap: int) -> None:
    """Wrapped in ``wrap`` lists to probe both sides of the limit; strings full of
    brackets and quotes come from ``st.text()``."""
    text = "[" * wrap + json.dumps(value) + "]" * wrap
    expected = json.loads(text)
    if depth_of(expected) > MAX_DEPTH:
        assert refusal(text.encode()) == "json_too_deep"
    else:
        assert decode_json(text.encode()) == expected
