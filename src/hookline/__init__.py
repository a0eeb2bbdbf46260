"""hookline: a webhook platform. The library surface is signing and verification."""

from __future__ import annotations

from hookline.errors import HooklineError, SignatureError
from hookline.signing import (
    InvalidSecret,
    Webhook,
    generate_ed25519_keypair,
    generate_secret,
    sign,
)

__version__ = "0.1.0"

__all__ = [
    "HooklineError",
    "InvalidSecret",
    "SignatureError",
    "Webhook",
    "__version__",
    "generate_ed25519_keypair",
    "generate_secret",
    "sign",
]
