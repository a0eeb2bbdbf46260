"""Webhook secrets in the Standard Webhooks string forms, parsed once and reused.

``whsec_<base64>``  symmetric HMAC-SHA256 key (signature version ``v1``)
``whsk_<base64>``   ed25519 secret key, 32-byte seed + 32-byte public key (``v1a``)
``whpk_<base64>``   ed25519 public key, verify only (``v1a``)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hookline.errors import HooklineError

__all__ = [
    "HMAC_KEY_SIZES",
    "InvalidSecret",
    "Secret",
    "SecretKind",
    "generate_ed25519_keypair",
    "generate_secret",
    "parse_secret",
]

SecretKind = Literal["v1", "v1a"]

HMAC_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"

HMAC_KEY_SIZES = range(24, 65)
"""Key sizes the Standard Webhooks spec recommends; Svix generates 24 bytes."""

_SEED_SIZE = 32
_PUBLIC_SIZE = 32


class InvalidSecret(HooklineError, ValueError):
    """A malformed configured secret; a ValueError so config and API layers report it as input."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A parsed key plus its ready-to-use crypto object, so signing never re-parses.

    ``key`` is exactly what the string form base64-encodes: the HMAC key for ``v1``;
    for ``v1a`` either 64 bytes (seed + public key, can sign) or 32 bytes (public key only).
    """

    kind: SecretKind
    key: bytes = field(repr=False)
    _hmac: hmac.HMAC | None = field(init=False, repr=False, compare=False, default=None)
    _private: Ed25519PrivateKey | None = field(init=False, repr=False, compare=False, default=None)
    _public: Ed25519PublicKey | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.kind == "v1":
            if len(self.key) not in HMAC_KEY_SIZES:
                raise InvalidSecret(f"HMAC secret must be 24-64 bytes, got {len(self.key)}")
            object.__setattr__(self, "_hmac", hmac.new(self.key, digestmod=hashlib.sha256))
        elif self.kind == "v1a":
            if len(self.key) == _SEED_SIZE + _PUBLIC_SIZE:
                private = Ed25519PrivateKey.from_private_bytes(self.key[:_SEED_SIZE])
                public = private.public_key()
                if public.public_bytes_raw() != self.key[_SEED_SIZE:]:
                    raise InvalidSecret("ed25519 secret key's public half does not match its seed")
                object.__setattr__(self, "_private", private)
            elif len(self.key) == _PUBLIC_SIZE:
                public = Ed25519PublicKey.from_public_bytes(self.key)
            else:
                raise InvalidSecret(f"ed25519 key must be 32 or 64 bytes, got {len(self.key)}")
            object.__setattr__(self, "_public", public)
        else:
            raise InvalidSecret(f"unknown secret kind {self.kind!r}")

    @classmethod
    def from_seed(cls, seed: bytes) -> Secret:
        """libsodium stores seed + public key; callers holding only the seed get that form."""
        if len(seed) != _SEED_SIZE:
            raise InvalidSecret(f"ed25519 seed must be 32 bytes, got {len(seed)}")
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        return cls("v1a", seed + public)

    @property
    def can_sign(self) -> bool:
        return self._public is None or self._private is not None

    def public_key(self) -> Secret:
        """The verify-only half, safe to hand to receivers."""
        if self._public is None:
            raise InvalidSecret("an HMAC secret has no public key")
        return Secret("v1a", self._public.public_bytes_raw())

    def encode(self) -> str:
        """The prefixed string form that :func:`parse_secret` reads back."""
        if self.kind == "v1":
            prefix = HMAC_PREFIX
        else:
            prefix = SIGNING_KEY_PREFIX if self._private is not None else PUBLIC_KEY_PREFIX
        return prefix + base64.b64encode(self.key).decode("ascii")

    def _signature(self, prefix: bytes, body: bytes) -> bytes:
        """Raw signature over ``prefix + body``; split so HMAC never copies a large body."""
        if self._hmac is not None:
            mac = self._hmac.copy()
            mac.update(prefix)
            mac.update(body)
            return mac.digest()
        if self._private is None:
            raise InvalidSecret("a public key can only verify, not sign")
        return self._private.sign(prefix + body)

    def _matches(self, content: bytes, signature: bytes) -> bool:
        if self._hmac is not None:
            mac = self._hmac.copy()
            mac.update(content)
            return hmac.compare_digest(mac.digest(), signature)
        if self._public is None:  # unreachable: __post_init__ sets one of the two
            return False
        try:
            self._public.verify(signature, content)
        except InvalidSignature:
            return False
        return True


def _b64decode(text: str) -> bytes:
    """Strict standard base64; padding optional, as the reference libraries accept both."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII input
        raise InvalidSecret("secret is not valid base64") from exc


def parse_secret(text: str) -> Secret:
    """Reads any of the three prefixed forms; an unprefixed value is taken as an HMAC key."""
    if not isinstance(text, str):
        raise InvalidSecret(f"secret must be a string, got {type(text).__name__}")
    if text.startswith(SIGNING_KEY_PREFIX):
        raw = _b64decode(text[len(SIGNING_KEY_PREFIX) :])
        if len(raw) == _SEED_SIZE:
            return Secret.from_seed(raw)
        if len(raw) != _SEED_SIZE + _PUBLIC_SIZE:
            raise InvalidSecret(f"ed25519 secret key must be 32 or 64 bytes, got {len(raw)}")
        return Secret("v1a", raw)
    if text.startswith(PUBLIC_KEY_PREFIX):
        raw = _b64decode(text[len(PUBLIC_KEY_PREFIX) :])
        if len(raw) != _PUBLIC_SIZE:
            raise InvalidSecret(f"ed25519 public key must be 32 bytes, got {len(raw)}")
        return Secret("v1a", raw)
    return Secret("v1", _b64decode(text.removeprefix(HMAC_PREFIX)))


def generate_secret(nbytes: int = 24) -> str:
    """24 bytes matches what Svix issues (``whsec_`` + 32 base64 characters)."""
    if nbytes not in HMAC_KEY_SIZES:
        raise InvalidSecret(f"HMAC secret must be 24-64 bytes, got {nbytes}")
    return HMAC_PREFIX + base64.b64encode(_random.token_bytes(nbytes)).decode("ascii")


def generate_ed25519_keypair() -> tuple[str, str]:
    """Returns ``(whsk_..., whpk_...)``: keep the first, publish the second."""
    secret = Secret.from_seed(Ed25519PrivateKey.generate().private_bytes_raw())
    return secret.encode(), secret.public_key().encode()
