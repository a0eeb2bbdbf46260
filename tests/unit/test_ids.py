from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from hookline import ids

SVIX_ID = re.compile(r"^msg_[A-Za-z0-9]{27}$")


def test_ids_match_svix_shape_and_sort_by_creation() -> None:
    made = [ids.new_id("msg") for _ in range(2000)]
    assert all(SVIX_ID.match(i) for i in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


@given(ms=st.integers(0, 2**48 - 1))
def test_timestamp_round_trips(ms: int) -> None:
    # boundary ids, not new_id: a far-future new_id would move the process clock forward
    assert ids.id_timestamp_ms(ids.boundary_id("ep", ms)) == ms


@given(a=st.integers(0, 2**47), b=st.integers(0, 2**47))
def test_time_order_is_string_order(a: int, b: int) -> None:
    if a < b:
        assert ids.boundary_id("msg", a) < ids.boundary_id("msg", b)
