"""Who may do what: the admin (everything), a key (the server or one application), or a
consumer-portal holder (one application, as its capabilities allow); and the token
helpers sessions, portal links and keys share.

Pure, so the API's token gate and the UI's pages decide with the same rules."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass


class Capability(enum.StrEnum):
    """Svix's AppPortalCapability values."""

    VIEW_BASE = "ViewBase"
    VIEW_ENDPOINT_SECRET = "ViewEndpointSecret"
    MANAGE_ENDPOINT_SECRET = "ManageEndpointSecret"
    MANAGE_TRANSFORMATIONS = "ManageTransformations"
    CREATE_ATTEMPTS = "CreateAttempts"
    MANAGE_ENDPOINT = "ManageEndpoint"


ALL_CAPABILITIES = frozenset(Capability)
_WRITES = frozenset(
    {
        Capability.MANAGE_ENDPOINT_SECRET,
        Capability.MANAGE_TRANSFORMATIONS,
        Capability.CREATE_ATTEMPTS,
        Capability.MANAGE_ENDPOINT,
    }
)
# Svix: ManageEndpoint reads and changes anything of an endpoint, secrets included;
# ManageEndpointSecret rotates and views the secret.
_IMPLIED = {
    Capability.MANAGE_ENDPOINT: frozenset(
        {
            Capability.VIEW_ENDPOINT_SECRET,
            Capability.MANAGE_ENDPOINT_SECRET,
            Capability.MANAGE_TRANSFORMATIONS,
        }
    ),
    Capability.MANAGE_ENDPOINT_SECRET: frozenset({Capability.VIEW_ENDPOINT_SECRET}),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """``app_id`` None is the whole server (the admin token, an operator's session or a
    server-wide key). ``key_id``: the API or integration key the caller holds; a key
    scoped to an application reaches every route of that application, not only the
    portal's allowlist, and no key manages keys."""

    app_id: str | None
    capabilities: frozenset[Capability] = ALL_CAPABILITIES
    read_only: bool = False
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.app_id is None

    def allows(self, capability: Capability) -> bool:
        if self.app_id is None or capability is Capability.VIEW_BASE:
            return True
        if self.read_only and capability in _WRITES:
            return False
        held = set(self.capabilities)
        for cap in self.capabilities:
            held |= _IMPLIED.get(cap, frozenset())
        return capability in held

    def sees(self, app_id: str) -> bool:
        return self.app_id is None or hmac.compare_digest(self.app_id, app_id)


ADMIN = Scope(app_id=None)


def parse_capabilities(values: list[str] | None) -> frozenset[Capability]:
    """Unknown names are dropped: a row written by a newer release still loads."""
    if values is None:
        return ALL_CAPABILITIES
    known = {c.value: c for c in Capability}
    return frozenset(known[v] for v in values if v in known)


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def censored(token: str) -> str:
    """What a key's listings show: its prefix and last four characters. The prefix ends
    at the first ``_``: the random part may hold more of them."""
    prefix, _, rest = token.partition("_")
    return f"{prefix}_****{rest[-4:]}"


def token_hash(token: str) -> str:
    """What the store keeps: a leaked table gives no usable credential."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(session_token: str) -> str:
    """Bound to the session and derived from it, so nothing more is stored; pages embed
    it, and a cross-site form cannot know it."""
    return hmac.new(session_token.encode(), b"hookline-csrf", hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
