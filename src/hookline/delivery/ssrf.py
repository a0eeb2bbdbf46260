"""The SSRF guard: outbound requests only reach addresses the operator allows.

The delivery client (``http_client``) resolves a name through this resolver when it opens
a connection and connects to one of the addresses it returned, so a name that re-resolves
to a private address (DNS rebinding) is caught too. Address literals, numeric disguises
such as ``127.1`` or ``2130706433`` included, are judged by the client without resolving.
Which addresses are refused is decided in ``hookline.addresses``, which the API shares.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from hookline.addresses import AddressPolicy


class BlockedAddress(OSError):
    """The target resolved only to addresses the guard refuses."""


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
