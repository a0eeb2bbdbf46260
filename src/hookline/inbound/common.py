"""What intake and the router share: how a request's headers and signed URL are read,
and each source's verification config, parsed once per source version.

The router verifies a stored request again from what intake stored, so both must build
the provider's view of the request (headers, the URL it signed) the same way.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hookline.models import HOP_BY_HOP
from hookline.receive.config import ProviderConfig, parse_config
from hookline.sources import Source

# The token is a capability: it is not kept in the stored path, and the router puts the
# source's token back in when it rebuilds the URL a provider signed.
TOKEN_PLACEHOLDER = "{token}"
FORWARDED = ("x-forwarded-proto", "x-forwarded-host")

# Never handed on with a message: connection-level headers, and credentials.
_NOT_KEPT = HOP_BY_HOP | frozenset(("host", "content-length"))


def header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as one lower-cased name each; a repeated header's values are joined
    with ", " (how HTTP folds repeats)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def _first(value: str | None) -> str | None:
    """The first of a comma-joined list: the value the outermost proxy saw."""
    if not value:
        return None
    return value.split(",", 1)[0].strip() or None


def signed_url(headers: Mapping[str, str], path: str, query: str, scheme: str = "http") -> str:
    """The URL the provider signed, as the client-facing side saw it. The forwarded
    headers must already be gone unless a trusted proxy set them (``trusted_peer``)."""
    proto = _first(headers.get("x-forwarded-proto")) or scheme
    host = _first(headers.get("x-forwarded-host")) or headers.get("host", "")
    return f"{proto}://{host}{path}" + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, cidrs: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def trusts(self, peer: str | None) -> bool:
        if not self.networks or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a unix socket path or the like: no address to trust
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def message_headers(headers: Mapping[str, str], credentials: frozenset[str]) -> dict[str, str]:
    """The original headers a message carries, for endpoints that ask to have some
    forwarded: everything but connection-level headers and ``credentials`` (the source's
    ``credential_headers``)."""
    dropped = _NOT_KEPT | credentials
    return {k: v for k, v in headers.items() if k not in dropped}


class ConfigCache:
    """Each source's config parsed once per version: a changed source has a new version,
    so an entry never outlives the settings it was parsed from."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._parsed: OrderedDict[tuple[str, int], ProviderConfig] = OrderedDict()

    def get(self, source: Source) -> ProviderConfig:
        """``ConfigError`` if the stored config no longer parses."""
        key = (source.id, source.version)
        found = self._parsed.get(key)
        if found is None:
            found = parse_config(source.provider, source.config)
            self._parsed[key] = found
            while len(self._parsed) > self._size:
                self._parsed.popitem(last=False)
        return found
