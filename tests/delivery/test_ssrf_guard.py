"""The SSRF guard, aimed only at loopback addresses in their many spellings."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given, settings
from hypothesis import strategies as st

from hookline.addresses import AddressPolicy, embedded_ipv4, is_public
from hookline.delivery.ssrf import BlockedAddress, GuardedResolver

GUARD_ON = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=False)
DEV = AddressPolicy.build(allow_private=False, allowed_subnets=(), allow_loopback=True)

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "::ffff:127.0.0.1",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:10.0.0.1",
    "not-an-ip",
]


@pytest.mark.parametrize("address", REFUSED)
def test_guard_refuses_non_public_addresses(address: str) -> None:
    assert not GUARD_ON.allows(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"])
def test_guard_admits_public_addresses(address: str) -> None:
    """Only classified, never connected to."""
    assert GUARD_ON.allows(address)


def test_dev_mode_opens_loopback_only() -> None:
    assert DEV.allows("127.0.0.1") and DEV.allows("::1") and DEV.allows("::ffff:127.0.0.1")
    assert not DEV.allows("10.0.0.1") and not DEV.allows("169.254.169.254")


def test_allowed_subnets_and_switching_off() -> None:
    policy = AddressPolicy.build(False, ["127.0.0.0/24"], allow_loopback=False)
    assert policy.allows("127.0.0.9") and not policy.allows("127.0.1.1")
    assert AddressPolicy.build(True, (), False).allows("127.0.0.1")


@pytest.mark.parametrize("host", ["localhost", "127.1", "2130706433", "0x7f000001"])
async def test_resolver_blocks_names_that_resolve_to_loopback(host: str) -> None:
    resolver = GuardedResolver(GUARD_ON)
    try:
        with pytest.raises(BlockedAddress):
            await resolver.resolve(host, 80, socket.AF_INET)
    finally:
        await resolver.close()


async def test_resolver_passes_allowed_addresses_through() -> None:
    resolver = GuardedResolver(DEV)
    try:
        results = await resolver.resolve("localhost", 80, socket.AF_INET)
    finally:
        await resolver.close()
    assert results and all(r["host"].startswith("127.") for r in results)


class Rebinding(AbstractResolver):
    """Answers with a different address each time, as a rebinding attacker's DNS does."""

    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        hosts = self.answers.pop(0)
        return [
            ResolveResult(hostname=host, host=h, port=port, family=family, proto=0, flags=0)
            for h in hosts
        ]

    async def close(self) -> None:
        pass


async def test_every_resolution_is_checked_so_rebinding_fails() -> None:
    """Only loopback addresses: 127.0.0.0/24 is let through, the rest of 127/8 is not."""
    policy = AddressPolicy.build(False, ["127.0.0.0/24"], allow_loopback=False)
    inner = Rebinding([["127.0.0.5"], ["127.0.1.1"], ["127.0.0.5", "127.0.9.9"]])
    resolver = GuardedResolver(policy, inner)
    first = await resolver.resolve("rebind.localhost", 80)
    assert [r["host"] for r in first] == ["127.0.0.5"]
    with pytest.raises(BlockedAddress):
        await resolver.resolve("rebind.localhost", 80)
    mixed = await resolver.resolve("rebind.localhost", 80)
    assert [r["host"] for r in mixed] == ["127.0.0.5"]


# ----- special-purpose ranges and IPv4 carried inside IPv6 --------------------------
# Only classified by the pure functions below, never connected to.

SPECIAL_PURPOSE = [
    "192.0.0.1",  # IETF protocol assignments
    "192.0.0.9",  # ... including its anycast addresses
    "192.0.2.1",
    "192.88.99.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.5",
    "255.255.255.255",
    "fec0::1",  # site-local
    "3fff::1",
    "5f00::1",
    "100::1",
    "100:0:0:1::1",
    "2001:2::1",
    "2001:10::1",
    "2001:db8::1",
    "64:ff9b:1::808:808",  # local-use NAT64, whatever it carries
]
EMBEDDED_PRIVATE = {
    "2002:7f00:1::": "127.0.0.1",  # 6to4
    "2002:a9fe:a9fe::": "169.254.169.254",
    "2002:a00:1:1::1": "10.0.0.1",
    "64:ff9b::7f00:1": "127.0.0.1",  # NAT64
    "64:ff9b::a9fe:a9fe": "169.254.169.254",
    "::127.0.0.1": "127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe": "169.254.169.254",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "127.0.0.1",  # Teredo: client bits inverted
    "2001:0:4136:e378:8000:63bf:5601:5601": "169.254.169.254",
}


@pytest.mark.parametrize("address", SPECIAL_PURPOSE + sorted(EMBEDDED_PRIVATE))
def test_guard_refuses_special_purpose_and_embedded_private(address: str) -> None:
    assert not GUARD_ON.allows(address)
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(("address", "inner"), sorted(EMBEDDED_PRIVATE.items()))
def test_embedded_ipv4_is_decoded(address: str, inner: str) -> None:
    assert embedded_ipv4(ipaddress.IPv6Address(address)) == ipaddress.IPv4Address(inner)


@pytest.mark.parametrize(
    "address",
    [
        "2002:808:808::1",  # 6to4 carrying 8.8.8.8
        "64:ff9b::808:808",  # NAT64 carrying 8.8.8.8
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo carrying 8.8.8.8
        "192.31.196.1",  # AS112: special-purpose but globally reachable
        "2620:4f:8000::1",
    ],
)
def test_guard_admits_globally_reachable_special_cases(address: str) -> None:
    assert GUARD_ON.allows(address)


def embeddings(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    n = int(v4)
    return [
        ipaddress.IPv6Address((0xFFFF << 32) | n),  # mapped
        ipaddress.IPv6Address(n),  # IPv4-compatible
        ipaddress.IPv6Address((0x64FF9B << 96) | n),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1),  # 6to4
        ipaddress.IPv6Address((0x20010000 << 96) | (n ^ 0xFFFFFFFF)),  # Teredo
    ]


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(v4=st.ip_addresses(v=4))
def test_no_embedding_smuggles_a_refused_ipv4_address(v4: ipaddress.IPv4Address) -> None:
    for v6 in embeddings(v4):
        assert embedded_ipv4(v6) == v4, v6
        if not is_public(v4):
            assert not GUARD_ON.allows(str(v6)), (v4, v6)


@pytest.mark.parametrize("v4", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1"])
def test_dev_mode_opens_loopback_not_its_embeddings(v4: str) -> None:
    """``--dev`` allows loopback itself; 6to4/NAT64 forms of it route elsewhere."""
    for v6 in embeddings(ipaddress.IPv4Address(v4))[1:]:
        assert not DEV.allows(str(v6)), v6
