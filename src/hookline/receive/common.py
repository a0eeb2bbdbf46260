"""Checks every provider shares: headers, encodings, timestamps, constant-time matching."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable

from hookline.receive.types import (
    BAD_SIGNATURE,
    MALFORMED,
    MISSING_HEADER,
    TIMESTAMP_OUT_OF_TOLERANCE,
    ReceivedRequest,
    VerificationError,
)

_DIGITS = re.compile(r"[0-9]{1,16}")
DIGESTS: dict[str, Callable[[], hashlib._Hash]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


def raw(text: str) -> bytes:
    """Bytes of any str (header values and secrets may hold lone surrogates)."""
    return text.encode("utf-8", "surrogatepass")


def required(request: ReceivedRequest, name: str) -> str:
    value = request.header(name)
    if value is None:
        raise VerificationError(MISSING_HEADER, f"the {name} header is missing")
    return value


def mac(secret: str, content: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(raw(secret), content, DIGESTS[algorithm]).digest()


def any_equal(expected: Iterable[bytes], given: Iterable[bytes]) -> bool:
    """True if some expected value equals some given one, each pair compared in constant
    time and every pair compared, so timing tells nothing about which matched."""
    givens = list(given)
    found = False
    for want in expected:
        for got in givens:
            found |= hmac.compare_digest(want, got)
    return found


def refused() -> VerificationError:
    return VerificationError(BAD_SIGNATURE, "no accepted secret signed this request")


def require_signature(expected: Iterable[bytes], given: Iterable[bytes]) -> None:
    """``bad_signature`` unless one of the MACs the accepted secrets give matches one the
    request carries (``any_equal``: constant time, every pair compared)."""
    if not any_equal(expected, given):
        raise refused()


def from_hex(text: str, name: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise VerificationError(MALFORMED, f"the {name} signature is not hex") from None


def from_base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(raw(text.strip()), validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(MALFORMED, f"the {name} signature is not base64") from None


def unix_seconds(text: str, name: str, *, millis: bool = False) -> int:
    """A decimal timestamp in seconds; with ``millis``, 13 or more digits are milliseconds."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise VerificationError(MALFORMED, f"the {name} timestamp is not an integer")
    value = int(text)
    return value // 1000 if millis and len(text) >= 13 else value


def within_tolerance(timestamp: int, tolerance_s: int, now: float | None) -> None:
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise VerificationError(
            TIMESTAMP_OUT_OF_TOLERANCE,
            f"the signed timestamp is more than {tolerance_s} s from the current time",
        )
