"""The SSRF guard: outbound requests only reach addresses the operator allows.

The check runs on the resolved address inside the connector, and the connection
goes to exactly that address, so a name that re-resolves to a private address
(DNS rebinding) is caught too. Numeric disguises such as ``127.1`` or
``2130706433`` are resolved by the system like any name and land in the same check.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddress(OSError):
    """The target resolved only to addresses the guard refuses."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which destination addresses deliveries may connect to."""

    enabled: bool = True
    allowed_networks: Sequence[IPNetwork] = field(default_factory=tuple)

    @classmethod
    def build(
        cls, allow_private: bool, allowed_subnets: Iterable[str], allow_loopback: bool
    ) -> AddressPolicy:
        networks = [ipaddress.ip_network(s.strip(), strict=False) for s in allowed_subnets]
        if allow_loopback:
            networks.extend(LOOPBACK_NETWORKS)
        return cls(enabled=not allow_private, allowed_networks=tuple(networks))

    def allows(self, address: str) -> bool:
        if not self.enabled:
            return True
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed_networks if net.version == ip.version):
            return True
        return is_public(ip)


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, multicast,
    reserved or unspecified."""
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    )


class GuardedResolver(AbstractResolver):
    """Resolves through the default resolver and drops every refused address."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._policy.allows(r["host"])]
        if not allowed:
            raise BlockedAddress(f"{host} resolves only to addresses the SSRF guard refuses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
