"""The cluster test's checks catch what they are meant to catch: sequences that break each
rule are fed to them directly, since a healthy run never produces one; and its receiver
scripts and checks what it is sent."""

from __future__ import annotations

import json
import time

import httpx
from cluster_receiver import (
    Hit,
    PathRule,
    TimingReceiver,
    count_deliveries,
    duplicated,
    first_arrival_order,
    max_open,
    out_of_order,
    outside,
    rate_excess,
)

from hookline.signing import Webhook
from hookline.signing.secrets import generate_secret


def hit(start: float, end: float, msg: str = "m", path: str = "/p", status: int = 200) -> Hit:
    return Hit(path, msg, start, end, status)


def test_max_open_counts_overlaps_and_not_touching_spans() -> None:
    assert max_open([]) == 0
    assert max_open([hit(0, 1), hit(1, 2), hit(2, 3)]) == 1  # back to back
    assert max_open([hit(0, 1), hit(0.5, 2), hit(0.9, 1.1)]) == 3
    assert max_open([hit(0, 10), hit(1, 2), hit(3, 4), hit(5, 6)]) == 2


def test_rate_excess_allows_the_burst_and_the_rate_but_not_more() -> None:
    rate = 10
    burst_then_rate = [0.0] * rate + [1 + i / rate for i in range(10 * rate)]
    assert rate_excess(burst_then_rate, rate, windows=(1, 2, 5), slack_s=0.1) == []
    twice_the_rate = [i / (2 * rate) for i in range(20 * rate)]
    found = rate_excess(twice_the_rate, rate, windows=(1, 5), slack_s=0.1)
    assert [w for w, _, _ in found] == [5]  # one second is within rate + burst
    assert found[0][1] == 100 and found[0][2] == rate * 6.1
    two_bursts = [0.0] * 2 * rate + [0.5] * rate
    assert [w for w, _, _ in rate_excess(two_bursts, rate, windows=(1,), slack_s=0.1)] == [1]


def test_fifo_order_is_by_first_arrival_and_a_swap_is_caught() -> None:
    hits = [hit(0, 1, "a"), hit(1, 2, "b"), hit(2, 3, "a"), hit(3, 4, "c")]  # a resent
    assert first_arrival_order(hits) == ["a", "b", "c"]
    assert out_of_order(first_arrival_order(hits), ["a", "b", "c"]) == []
    swapped = [hit(0, 1, "b"), hit(1, 2, "a"), hit(3, 4, "c")]
    assert out_of_order(first_arrival_order(swapped), ["a", "b", "c"]) == [
        (0, "b", "a"),
        (1, "a", "b"),
    ]
    short = [hit(0, 1, "a")]
    assert out_of_order(first_arrival_order(short), ["a", "b"]) == [(1, "1 ids", "2")]


def test_deliveries_counts_missing_misrouted_and_duplicates() -> None:
    expected = {("/x", "m1"), ("/x", "m2"), ("/y", "m1")}
    hits = [
        hit(0, 1, "m1", "/x", 500),  # a failed first attempt, then its retry
        hit(1, 2, "m1", "/x"),
        hit(2, 3, "m1", "/x"),  # sent again: a duplicate
        hit(0, 1, "m2", "/x", 500),  # never answered 2xx: missing
        hit(0, 1, "m1", "/y"),
        hit(0, 1, "m2", "/y"),  # not expected there
    ]
    counted = count_deliveries(hits, expected)
    assert counted.missing == [("/x", "m2")]
    assert counted.unexpected == [("/y", "m2")]
    assert counted.duplicates == 1
    assert duplicated(hits) == [hits[1]]  # the first of the two 2xx answers


def test_outside_finds_the_requests_no_fault_explains() -> None:
    hits = [hit(1, 2, "a"), hit(5, 6, "b"), hit(10, 11, "c")]
    assert outside(hits, [(0, 1), (9, 12)]) == [hits[1]]
    assert outside(hits, []) == hits


async def test_receiver_checks_signatures_on_arrival_and_fails_a_flaky_message_once() -> None:
    secret, other = generate_secret(), generate_secret()
    async with TimingReceiver({"/f": PathRule(flaky=True)}) as rx:
        rx.secrets["/f"] = secret
        async with httpx.AsyncClient() as client:

            async def post(msg_id: str, key: str, payload: dict[str, object]) -> int:
                body = json.dumps(payload).encode()
                now = int(time.time())
                headers = {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(now),
                    "webhook-signature": Webhook(key).sign(msg_id, now, body),
                }
                response = await client.post(rx.url("/f"), content=body, headers=headers)
                return response.status_code

            assert await post("msg_1", secret, {"fail": True}) == 500
            assert await post("msg_1", secret, {"fail": True}) == 200
            assert await post("msg_2", secret, {"fail": False}) == 200
            assert await post("msg_3", other, {}) == 200
    assert [(s.msg_id, s.error is None) for s in rx.samples] == [
        ("msg_1", True),
        ("msg_1", True),
        ("msg_2", True),
        ("msg_3", False),
    ]
    assert [(h.msg_id, h.status) for h in rx.hits] == [
        ("msg_1", 500),
        ("msg_1", 200),
        ("msg_2", 200),
        ("msg_3", 200),
    ]
    assert all(h.start <= h.end for h in rx.hits)
