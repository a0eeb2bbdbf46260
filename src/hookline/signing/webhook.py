"""Standard Webhooks signatures: :func:`sign` for the delivery path, :class:`Webhook` for receivers.

Signed content is ``b"{id}.{timestamp}." + body`` with the body as raw bytes, never decoded, so
what is verified is byte-for-byte what was sent.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from hookline.errors import SignatureError
from hookline.signing.secrets import InvalidSecret, Secret, parse_secret

__all__ = ["DEFAULT_TOLERANCE", "Webhook", "sign"]

DEFAULT_TOLERANCE = timedelta(minutes=5)

# Canonical unsigned decimal only: int() would also take " 1", "+1", "1_0" and non-ASCII digits,
# none of which a sender signs. 16 digits bounds the work and is far past any real clock.
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,15}")
_SIGNATURE_SIZE = {"v1": 32, "v1a": 64}


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[Secret]) -> str:
    """The ``webhook-signature`` value: one entry per secret, so receivers on either side of a
    key rotation accept it."""
    if not secrets:
        raise InvalidSecret("at least one secret is needed to sign")
    prefix = f"{msg_id}.{timestamp}.".encode()
    if len(secrets) == 1:  # the usual case, once per delivery: no generator, no join
        secret = secrets[0]
        return f"{secret.kind},{_b64(secret._signature(prefix, body))}"
    return " ".join(f"{secret.kind},{_b64(secret._signature(prefix, body))}" for secret in secrets)


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


class Webhook:
    """Verifies (and, given a secret, signs) webhooks for one key.

    Accepts ``whsec_``/bare base64 (HMAC, ``v1``), ``whsk_`` (ed25519, ``v1a``) or ``whpk_``
    (ed25519 public key: verify only). Raw ``bytes`` are taken as the HMAC key itself.
    """

    __slots__ = ("_secret", "_tolerance")

    def __init__(
        self,
        secret: str | bytes | Secret,
        *,
        tolerance: timedelta | int = DEFAULT_TOLERANCE,
    ) -> None:
        if isinstance(secret, Secret):
            self._secret = secret
        elif isinstance(secret, bytes):
            self._secret = Secret("v1", secret)
        else:
            self._secret = parse_secret(secret)
        seconds = tolerance.total_seconds() if isinstance(tolerance, timedelta) else tolerance
        if seconds < 0:
            raise ValueError("tolerance must not be negative")
        self._tolerance = int(seconds)

    @property
    def secret(self) -> Secret:
        return self._secret

    def sign(self, msg_id: str, timestamp: int | datetime, body: bytes | str) -> str:
        """Naive datetimes are read as UTC, as the reference libraries do."""
        data = body.encode() if isinstance(body, str) else body
        return sign(msg_id, _unix(timestamp), data, (self._secret,))

    def verify(
        self,
        body: bytes | str,
        headers: Mapping[str, str],
        *,
        now: int | float | datetime | None = None,
    ) -> bytes:
        """Returns the verified body bytes, so callers parse exactly what was checked.

        Reads ``webhook-*`` headers, falling back to ``svix-*``, case-insensitively. Passes if any
        entry of the signature header matches; entries of other versions are ignored, which lets
        senders add schemes. Every failure raises :class:`SignatureError`. ``now`` (unix seconds
        or datetime) replaces the clock for replaying recorded requests.
        """
        data = _body_bytes(body)
        msg_id, timestamp, signatures = _read_headers(headers)
        self._check_timestamp(int(timestamp), now)
        try:
            content = f"{msg_id}.{timestamp}.".encode() + data
        except UnicodeEncodeError as exc:
            raise SignatureError("webhook-id is not encodable") from exc
        kind = self._secret.kind
        for entry in signatures.split():
            version, _, encoded = entry.partition(",")
            if version != kind:
                continue
            raw = _b64decode(encoded)
            if raw is not None and len(raw) == _SIGNATURE_SIZE[kind]:
                if self._secret._matches(content, raw):
                    return data
        raise SignatureError("no matching signature")

    def _check_timestamp(self, timestamp: int, now: int | float | datetime | None) -> None:
        current = _unix(datetime.now(UTC) if now is None else now)
        if timestamp < current - self._tolerance:
            raise SignatureError("message timestamp too old")
        if timestamp > current + self._tolerance:
            raise SignatureError("message timestamp too new")


def _unix(moment: int | float | datetime) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return math.floor(moment.timestamp())
    return math.floor(moment)


def _body_bytes(body: object) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode()
        except UnicodeEncodeError as exc:
            raise SignatureError("body is not encodable as UTF-8") from exc
    raise SignatureError(f"body must be bytes or str, got {type(body).__name__}")


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    try:
        lowered = {str(name).lower(): value for name, value in headers.items()}
    except (AttributeError, TypeError) as exc:
        raise SignatureError("headers must be a mapping") from exc

    def header(name: str) -> str:
        value = lowered.get(f"webhook-{name}") or lowered.get(f"svix-{name}")
        if not value or not isinstance(value, str):
            raise SignatureError(f"missing or empty webhook-{name} header")
        return value

    msg_id, timestamp, signatures = header("id"), header("timestamp"), header("signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp is not an integer")
    return msg_id, timestamp, signatures


def _b64decode(text: str) -> bytes | None:
    """Strict alphabet, padding optional; ``None`` for garbage so one bad entry is just skipped."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
