"""Prefixed ids that sort by creation time.

A fixed-width base62 string (27 chars, like Svix's KSUID-based ids) of 48 bits of
milliseconds and 112 random bits: ASCII order
equals time order, which keeps B-tree inserts append-only (see DESIGN §7),
and a monotonic counter keeps ids made in the same millisecond in order too.
"""

from __future__ import annotations

import os
import random
import threading
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WIDTH = 27  # 160 bits fit in 27 base62 digits
_RANDOM_BITS = 112


class _Clock:
    """Hands out strictly increasing 160-bit values inside one process.

    The random bits only keep ids of different processes apart; they are not secrets,
    so a fast generator seeded from the OS serves (an ``os.urandom`` call per id showed
    up in delivery profiles).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._random = random.Random(os.urandom(32))
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        """A forked child must not repeat its parent's random bits."""
        self._random = random.Random(os.urandom(32))

    def next_value(self, now_ms: int) -> int:
        candidate = (now_ms << _RANDOM_BITS) | self._random.getrandbits(_RANDOM_BITS)
        with self._lock:
            if candidate <= self._last:
                candidate = self._last + 1
            self._last = candidate
        return candidate


_clock = _Clock()


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # two digits per divmod


def _encode(value: int) -> str:
    chunks = []
    for _ in range(_WIDTH // 2):
        value, rem = divmod(value, 3844)
        chunks.append(_PAIRS[rem])
    chunks.append(_ALPHABET[value])  # 27 digits: 13 pairs and one leading digit
    return "".join(reversed(chunks))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A new id such as ``msg_0Fq...``, ordered after every id made before it in this
    process (so a ``now_ms`` in the past yields an id just after the latest one)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_encode(_clock.next_value(ms))}"


def boundary_id(prefix: str, at_ms: int) -> str:
    """The smallest id of a millisecond: a cursor for 'created after/before' filters."""
    return f"{prefix}_{_encode(at_ms << _RANDOM_BITS)}"


def id_timestamp_ms(value: str) -> int:
    """The creation time encoded in an id; ValueError if it is not one of ours."""
    _, _, body = value.rpartition("_")
    if len(body) != _WIDTH:
        raise ValueError(f"not a hookline id: {value!r}")
    number = 0
    for ch in body:
        digit = _ALPHABET.find(ch)
        if digit < 0:
            raise ValueError(f"not a hookline id: {value!r}")
        number = number * 62 + digit
    return number >> _RANDOM_BITS
