from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.filters import InvalidFilter, compile_filter, matches


@given(total=st.integers(-(10**6), 10**6), threshold=st.integers(-(10**6), 10**6))
def test_numeric_threshold_matches_exactly(total: int, threshold: int) -> None:
    payload = {"type": "order.created", "data": {"total": total}}
    assert matches(f"data.total >= `{threshold}`", payload) is (total >= threshold)


@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    )
)
def test_any_payload_is_evaluated_without_raising(payload: object) -> None:
    matches("data.total >= `100` && contains(tags, 'vip')", payload)


def test_truthiness_follows_jmespath() -> None:
    assert matches("data.items", {"data": {"items": [1]}})
    assert not matches("data.items", {"data": {"items": []}})
    assert matches("data.count", {"data": {"count": 0}})
    assert not matches("data.missing", {"data": {}})


@pytest.mark.parametrize("expression", ["", "   ", "data.total >=", "[[", "x" * 2000])
def test_invalid_filters_are_refused(expression: str) -> None:
    with pytest.raises(InvalidFilter):
        compile_filter(expression)
