"""Secrets at rest: signing keys are stored encrypted, never in plain text.

A :class:`SecretBox` holds one or more Fernet keys (AES-128-CBC plus HMAC-SHA256, from
``cryptography``): the first encrypts, every one of them decrypts, so a key can be rotated
by putting the new key first, re-encrypting, and then dropping the old one. Stored values
carry the ``enc:v1:`` prefix; a value without it is a plain-text secret written before
encryption existed and reads as it is, until it is next written or re-encrypted.

The store is the only user today (endpoint secrets); inbound source secrets and the
credential headers of received requests use the same box. Decryption sits on the delivery
hot path (every claimed batch reads its endpoints), so results are cached by ciphertext: a
token always decrypts to the same plain text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hookline.errors import StoreError

__all__ = ["PREFIX", "SecretBox", "UndecryptableSecret", "check_key", "generate_key"]

PREFIX = "enc:v1:"
CACHE_SIZE = 8192
"""Plain texts kept per box: a few hundred KiB at most, and one entry per live key."""

KEY_HINT = (
    "set HOOKLINE_SECRET_KEY to the key they were written with, or add that key to "
    "HOOKLINE_SECRET_KEYS_PREVIOUS (when HOOKLINE_SECRET_KEY is not set, the key is "
    "the data folder's secret_key file)"
)


class UndecryptableSecret(StoreError):
    """A stored secret that none of the configured keys decrypts: a key is missing or wrong."""


def generate_key() -> str:
    """A new random key in the form HOOKLINE_SECRET_KEY takes."""
    return Fernet.generate_key().decode("ascii")


def check_key(key: str) -> Fernet:
    """The Fernet for ``key``; a ValueError that does not repeat the key if it is malformed."""
    try:
        return Fernet(key)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        raise ValueError(
            "a secret key must be 32 url-safe base64-encoded bytes (44 characters); "
            "`hookline generate-secret-key` prints one"
        ) from None


class SecretBox:
    """Encrypts with the first key, decrypts with any; decryptions are cached."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        fernets = [check_key(k) for k in keys]
        self._current = fernets[0]
        self._all = MultiFernet(fernets)
        self._cached_open = functools.lru_cache(maxsize=CACHE_SIZE)(self._decrypt)

    def seal(self, plain: str) -> str:
        """The stored form of ``plain``, encrypted with the current key."""
        return PREFIX + self._current.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain text of a stored value; legacy plain-text values pass through."""
        if not stored.startswith(PREFIX):
            return stored
        return self._cached_open(stored)

    def open_uncached(self, stored: str) -> str:
        """As ``open``, keeping nothing: for values read once or twice (a received
        request's credentials), which would only push signing keys out of the cache."""
        if not stored.startswith(PREFIX):
            return stored
        return self._decrypt(stored)

    def needs_reseal(self, stored: str) -> bool:
        """True if ``stored`` is plain text or encrypted with a key other than the current one."""
        if not stored.startswith(PREFIX):
            return True
        try:
            self._current.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return True
        return False

    def cache_info(self) -> functools._CacheInfo:
        return self._cached_open.cache_info()

    def _decrypt(self, stored: str) -> str:
        try:
            return self._all.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise UndecryptableSecret(
                "a stored secret cannot be decrypted with the configured keys: " + KEY_HINT
            ) from exc
