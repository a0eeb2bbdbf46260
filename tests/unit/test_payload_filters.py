from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hookline.filters import (
    MAX_FILTER_LENGTH,
    FilterOverrun,
    InvalidFilter,
    compile_filter,
    evaluate,
    matches,
)


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


# ----- limits: what a filter may be, and what it may cost ---------------------------------

# The reported filter: 221 characters, each `[@,@][]` doubles the list, so ``a`` of one
# element becomes 4 million elements. It is within the caps and must be cut off when run.
DOUBLING = "a" + " | [@,@][]" * 22
# No flatten: `[@,@]` nests, so the value is small as a graph but 2^22 leaves as a tree,
# which `to_string` would write out in full.
NESTING = "[@,@]" + " | [@,@]" * 21 + " | length(to_string(@)) > `0`"
# Two such trees of 2^23 leaves each, built apart, so comparing them walks every leaf.
TWIN = "([@,@]" + " | [@,@]" * 22 + ")"
TWINS = f"{TWIN} == {TWIN}"


def test_the_reported_filter_passes_the_caps_but_overruns_its_budget() -> None:
    assert len(DOUBLING) == 221
    compile_filter(DOUBLING)
    with pytest.raises(FilterOverrun):
        evaluate(DOUBLING, {"a": [1]})
    assert evaluate("a" + " | [@,@][]" * 3, {"a": [1]}) == [1] * 8  # the same shape, small


def test_shared_subtrees_are_charged_at_their_full_size_before_they_are_walked() -> None:
    compile_filter(TWINS)
    with pytest.raises(FilterOverrun, match="budget"):
        evaluate(TWINS, {"x": 1}, deadline_s=60)
    with pytest.raises(FilterOverrun, match="budget"):
        evaluate(NESTING, {"x": 1}, deadline_s=60)
    assert evaluate("[@,@] | [@,@] | length(to_string(@)) > `0`", {"x": 1}) is True


def test_the_budget_stops_an_evaluation_the_deadline_would_allow() -> None:
    with pytest.raises(FilterOverrun, match="budget"):
        evaluate(DOUBLING, {"a": [1]}, budget=100_000, deadline_s=60)


def test_the_deadline_stops_an_evaluation_the_budget_would_allow() -> None:
    with pytest.raises(FilterOverrun, match="time"):
        evaluate(DOUBLING, {"a": [1]}, budget=10**12, deadline_s=0.001)


def test_an_overrun_is_no_match_and_logged_once_per_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expression = NESTING.replace("`0`", "`1`")  # an expression no other test has logged
    with caplog.at_level(logging.WARNING, logger="hookline.filters"):
        assert matches(expression, {"x": 1}) is False
        assert matches(expression, {"x": 1}) is False
    logged = [r for r in caplog.records if expression in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]


def test_a_filter_that_fails_on_the_payload_is_no_match_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="hookline.filters"):
        assert matches("length(data.count) > `0`", {"data": {"count": 3}}) is False
    assert any("length(data.count)" in r.getMessage() for r in caplog.records)


def test_a_large_payload_within_the_budget_still_matches() -> None:
    payload = {"data": {"items": [{"price": i} for i in range(5_000)]}}
    assert matches("length(data.items[?price >= `4999`]) == `1`", payload)


@pytest.mark.parametrize(
    "expression",
    [
        "a == '" + "x" * 994 + "'",  # 1,001 characters
        "(" * 500 + "a" + ")" * 500,
        "!" * 500 + "a",  # the parser recurses per `!`
        "[" * 250 + "a" + "]" * 250,
        " || ".join(["a"] * 60),  # each `||` nests the tree one level deeper
    ],
)
def test_filters_past_the_caps_are_refused(expression: str) -> None:
    with pytest.raises(InvalidFilter):
        compile_filter(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "data.total >= `100` && data.currency == 'EUR'",
        "contains(tags, 'vip') || type == 'order.refunded'",
        "length(data.items[?price > `10`]) > `0`",
        "sort_by(data.lines, &amount)[-1].sku == 'A-1'",
        " && ".join(f"data.f{i} == `{i}`" for i in range(20)),
    ],
)
def test_real_filters_fit_the_caps(expression: str) -> None:
    assert len(expression) <= MAX_FILTER_LENGTH
    compile_filter(expression)
