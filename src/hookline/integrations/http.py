"""What every adapter shares: the URL a provider signed, and the 401 it answers."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from hookline.receive import VerificationError

INVALID_SIGNATURE = "invalid_signature"
_SCHEMES = ("http", "https")


def _first(value: str | None) -> str:
    """The first of a comma-joined list (the hop nearest the client), stripped."""
    return (value or "").split(",", 1)[0].strip()


def public_url(
    seen: str,
    headers: Mapping[str, str],
    *,
    trust_forwarded: bool = False,
    base: str | None = None,
) -> str:
    """The URL the provider requested, from ``seen`` (the URL as the app sees it).

    ``base`` (``https://hooks.example.com`` or with a path prefix) replaces the scheme
    and host, and goes before the path. Else, with ``trust_forwarded``, the scheme and
    host come from ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` where present: only
    behind a proxy that sets them, since a client can send them too.
    """
    url = urlsplit(seen)
    if base is not None:
        front = urlsplit(base)
        path = front.path.rstrip("/") + url.path
        return urlunsplit((front.scheme, front.netloc, path, url.query, ""))
    if not trust_forwarded:
        return seen
    lowered = {name.lower(): value for name, value in headers.items()}
    scheme = _first(lowered.get("x-forwarded-proto")).lower()
    host = _first(lowered.get("x-forwarded-host"))
    return urlunsplit(
        (
            scheme if scheme in _SCHEMES else url.scheme,
            host or url.netloc,
            url.path,
            url.query,
            "",
        )
    )


def rejection(exc: VerificationError) -> dict[str, str]:
    """The 401 body: one code for every failure, the reason and message in ``detail``."""
    return {"code": INVALID_SIGNATURE, "detail": f"{exc.reason}: {exc.message}"}
