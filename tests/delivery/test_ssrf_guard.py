"""The SSRF guard, aimed only at loopback addresses in their many spellings."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from hookline.delivery.ssrf import AddressPolicy, BlockedAddress, GuardedResolver

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
