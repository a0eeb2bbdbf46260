"""Which destination addresses the SSRF guard refuses: pure classification, no DNS.

Shared by the API, which refuses endpoint URLs whose host is a refused address literal
when they are written, and by the delivery worker, which checks every resolved address
at connect time (a name can always re-resolve, so only the worker can judge names).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
# RFC 6761: "localhost" and every name under it are loopback, never looked up in DNS.
LOCALHOST: tuple[IPAddress, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Written out rather than left to ``ipaddress.is_global``, whose table depends on the
# Python release (3.11 calls fec0::/10, 64:ff9b:1::/48 and 3fff::/20 global). From the
# IANA IPv4 and IPv6 Special-Purpose Address Registries: every block that is not
# globally reachable, plus multicast, broadcast and deprecated blocks.
REFUSED_IPV4 = _nets(
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (CGNAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata services
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments (its anycast /32s serve no webhooks)
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.88.99.0/24",  # 6to4 relay anycast, deprecated
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 (limited broadcast)
)
REFUSED_IPV6 = _nets(
    "::/8",  # unspecified, loopback, IPv4-compatible (deprecated) and mapped, reserved
    "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation: its layout is the operator's
    "100::/64",  # discard-only
    "100:0:0:1::/64",  # dummy prefix
    "2001::/23",  # IETF protocol assignments; Teredo (2001::/32) is decoded first
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
    "5f00::/16",  # segment routing (SRv6) SIDs
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local, deprecated
    "ff00::/8",  # multicast
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the last 32 bits
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition mechanism carries inside ``ip``, if any: mapped,
    IPv4-compatible, NAT64, 6to4 (bits 16-47) or Teredo (the client, bits inverted)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _V4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally reachable unicast, and so is any IPv4 address it carries inside."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
        if ip in _NAT64 or ip.teredo is not None:
            return True  # the address carried decides; the rest of ::/8, 2001::/23 is refused
        refused: tuple[IPNetwork, ...] = REFUSED_IPV6
    else:
        refused = REFUSED_IPV4
    if any(ip in net for net in refused):
        return False
    return ip.is_global and not ip.is_multicast


# One part of an inet_aton address: hexadecimal, octal (a leading 0) or decimal.
_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of any form ``inet_aton`` accepts (``127.1``, ``2130706433``,
    ``0x7f000001``, ``0177.0.0.1``), and of a trailing dot or a bare ``0x`` too, as URL
    parsers read them: refusing a spelling the resolver would reject costs nothing."""
    parts = host.removesuffix(".").split(".")
    if len(parts) > 4 or not all(_ATON_PART.fullmatch(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            digits, base = part[2:].lstrip("0") or "0", 16
        else:
            digits, base = part.lstrip("0") or "0", 8 if part.startswith("0") else 10
        if len(digits) > 11:  # past 32 bits in any base (octal takes 11); bounds int()
            return None
        values.append(int(digits, base))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for i, v in enumerate(leading):
        value |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def literal_addresses(host: str) -> tuple[IPAddress, ...]:
    """The addresses a URL host names without any DNS lookup: an IPv6 literal (brackets
    optional), an IPv4 address in any numeric form, or loopback for ``localhost`` and
    ``*.localhost``. Empty for an ordinary name, which only resolving can judge."""
    bare = host.removeprefix("[").removesuffix("]")
    if ":" in bare:
        try:
            return (ipaddress.IPv6Address(bare.split("%", 1)[0]),)
        except ValueError:
            return ()
    name = bare.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return LOCALHOST
    v4 = numeric_ipv4(bare)
    return () if v4 is None else (v4,)


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
        return self.allows_ip(ip)

    def allows_ip(self, ip: IPAddress) -> bool:
        if not self.enabled:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed_networks if net.version == ip.version):
            return True
        return is_public(ip)

    def refuses_literal(self, host: str) -> bool:
        """True when ``host`` spells addresses (see ``literal_addresses``) and the policy
        allows none of them. A name is never refused here: the worker judges it on
        connecting, since what it resolves to can change."""
        found = literal_addresses(host)
        return bool(found) and not any(self.allows_ip(ip) for ip in found)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]+@")


def shown_url(url: str) -> str:
    """``url`` with its userinfo (user and password) masked, for every answer and page
    that shows an endpoint URL. Deliveries use the stored URL, credentials and all."""
    return _USERINFO.sub(r"\1***@", url, count=1)
