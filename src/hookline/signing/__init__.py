"""Standard Webhooks secrets, signing and verification."""

from __future__ import annotations

from hookline.errors import SignatureError
from hookline.signing.secrets import (
    InvalidSecret,
    Secret,
    SecretKind,
    generate_ed25519_keypair,
    generate_secret,
    parse_secret,
)
from hookline.signing.webhook import DEFAULT_TOLERANCE, Webhook, sign

__all__ = [
    "DEFAULT_TOLERANCE",
    "InvalidSecret",
    "Secret",
    "SecretKind",
    "SignatureError",
    "Webhook",
    "generate_ed25519_keypair",
    "generate_secret",
    "parse_secret",
    "sign",
]
