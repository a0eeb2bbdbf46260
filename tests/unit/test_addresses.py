"""Address literals in URL hosts, classified without DNS.

Only classified by pure functions here, never connected to.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.addresses import AddressPolicy, literal_addresses, numeric_ipv4

GUARD_ON = AddressPolicy()
DEV = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)
GUARD_OFF = AddressPolicy.build(allow_private=True, allowed_subnets=(), allow_loopback=False)

NUMERIC = {
    "127.0.0.1": "127.0.0.1",
    "127.1": "127.0.0.1",
    "127.0.1": "127.0.0.1",
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0X7F.1": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "00000000000000000000177.1": "127.0.0.1",
    "0x0000000000000000007f.1": "127.0.0.1",
    "127.0.0.1.": "127.0.0.1",  # a trailing dot, as URL parsers read it
    "0": "0.0.0.0",
    "0x": "0.0.0.0",
    "10.1": "10.0.0.1",
    "169.16689662": "169.254.169.254",
    "4294967295": "255.255.255.255",
}
NOT_NUMERIC = [
    "", ".", "1.2.3.4.5", "4294967296", "1.16777216", "256.1.1.1", "08", "0x1g", "1..2",
    "127.0.0.1..", "a.b", "example.com", "1e3", "+1", "-1", " 1", "1 ", "9" * 5000,
]  # fmt: skip


@pytest.mark.parametrize(("host", "address"), sorted(NUMERIC.items()))
def test_numeric_forms_are_read_as_inet_aton_reads_them(host: str, address: str) -> None:
    assert numeric_ipv4(host) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize("host", NOT_NUMERIC)
def test_other_strings_are_not_numeric(host: str) -> None:
    assert numeric_ipv4(host) is None


def _aton(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@given(text=st.text(alphabet="0123456789xXaAfFg.", max_size=24))
def test_agrees_with_the_system_inet_aton(text: str) -> None:
    """Every spelling the resolver reads as an address is read as the same one here;
    the only extras are a trailing dot and a bare ``0x``, which resolve to nothing."""
    ours, system = numeric_ipv4(text), _aton(text)
    if system is not None:
        assert ours == system, text
    elif ours is not None:
        assert text.endswith(".") or any(p in ("0x", "0X") for p in text.split(".")), text


def _spell(value: int, parts: int, bases: list[str]) -> str:
    chunks = [(value >> (8 * (3 - i))) & 0xFF for i in range(parts - 1)]
    chunks.append(value & ((1 << (8 * (5 - parts))) - 1))
    fmt = {"d": str, "o": lambda n: "0" + format(n, "o"), "x": lambda n: hex(n)}
    return ".".join(fmt[b](n) for b, n in zip(bases, chunks, strict=False))


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(
    v4=st.ip_addresses(v=4),
    parts=st.integers(1, 4),
    bases=st.lists(st.sampled_from("dox"), min_size=4, max_size=4),
)
def test_every_spelling_of_an_address_is_found(
    v4: ipaddress.IPv4Address, parts: int, bases: list[str]
) -> None:
    text = _spell(int(v4), parts, bases)
    assert numeric_ipv4(text) == v4 == _aton(text), text


@pytest.mark.parametrize(
    ("host", "found"),
    [
        ("::1", ["::1"]),
        ("[::1]", ["::1"]),
        ("::ffff:7f00:1", ["::ffff:127.0.0.1"]),
        ("fe80::1%eth0", ["fe80::1"]),
        ("localhost", ["127.0.0.1", "::1"]),
        ("LOCALHOST.", ["127.0.0.1", "::1"]),
        ("a.b.localhost", ["127.0.0.1", "::1"]),
        ("a.localhost.", ["127.0.0.1", "::1"]),
        ("0x7f000001", ["127.0.0.1"]),
        ("localhost.example.com", []),
        ("notlocalhost", []),
        ("example.com", []),
        ("1.2.3.4.5", []),
        ("[1:2]", []),
    ],
)
def test_literal_addresses(host: str, found: list[str]) -> None:
    assert literal_addresses(host) == tuple(ipaddress.ip_address(a) for a in found)


LOOPBACK_HOSTS = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "::ffff:127.0.0.1", "::1"]
LOOPBACK_HOSTS += ["localhost", "localhost.", "x.localhost"]
PRIVATE_HOSTS = ["10.0.0.1", "169.254.169.254", "fd00::1", "192.168.0.1", "0xa000001"]
PRIVATE_HOSTS += ["2002:7f00:1::", "64:ff9b::7f00:1", "::ffff:10.0.0.1", "0.0.0.0"]


@pytest.mark.parametrize("host", LOOPBACK_HOSTS + PRIVATE_HOSTS)
def test_guard_on_refuses_every_literal(host: str) -> None:
    assert GUARD_ON.refuses_literal(host)
    assert not GUARD_OFF.refuses_literal(host)


def test_dev_opens_loopback_literals_only() -> None:
    """As the worker: loopback itself, not loopback carried in 6to4 or NAT64."""
    assert not any(DEV.refuses_literal(h) for h in LOOPBACK_HOSTS)
    assert all(DEV.refuses_literal(h) for h in PRIVATE_HOSTS)


def test_allowed_subnets_open_their_literals() -> None:
    policy = AddressPolicy.build(False, ["10.0.0.0/8"], allow_loopback=False)
    assert not policy.refuses_literal("10.0.0.1") and not policy.refuses_literal("012.1")
    assert policy.refuses_literal("192.168.0.1") and policy.refuses_literal("127.1")


@pytest.mark.parametrize("host", ["example.com", "internal", "1.example", "8.8.8.8", "2606::1"])
def test_names_and_public_literals_pass(host: str) -> None:
    assert not GUARD_ON.refuses_literal(host)
