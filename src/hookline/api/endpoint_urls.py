"""Endpoint URLs: what a delivery may be aimed at, and how the API shows them.

A URL is checked when it is written (scheme, a host that is really the name it is sent
to, address literals the SSRF guard refuses) and shown with its credentials masked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from yarl import URL

from hookline.addresses import AddressPolicy, shown_url
from hookline.api.errors import field_error
from hookline.models import action_name, is_polling, is_tunnel

_HOST = re.compile(r"^[A-Za-z0-9_~-]+(?:\.[A-Za-z0-9_~-]+)*\.?$")


def checked_url(
    url: str, policy: AddressPolicy, loc: str = "url", actions: Collection[str] | None = None
) -> str:
    """The URL as given, if a delivery can be aimed at it; a 422 otherwise. ``policy``
    judges a host that is an address literal; names are judged when connecting.
    ``action://NAME`` runs a local action: accepted only when ``actions`` (the names the
    server's actions file declares; None where actions are not allowed) holds NAME. It
    reaches no network, so the host checks do not apply; nor does ``poll://``, a polling
    endpoint, nor ``tunnel://``, which a connected ``hookline listen`` receives."""
    if is_polling(url) or is_tunnel(url):  # read by its consumers or a listener
        return url
    name = action_name(url)
    if name is not None and actions is not None:
        if name not in actions:
            raise field_error(
                ["body", loc], f"action {name!r} is not declared in the server's actions file"
            )
        return url
    try:
        parsed = URL(url)
        host = parsed.host  # decodes punycode labels: an invalid one raises here
        raw_host = parsed.raw_host  # the ASCII form, which is what goes on the wire
        given = URL(url, encoded=True).raw_host  # the host exactly as written
    except (ValueError, TypeError):  # UnicodeError included
        raise field_error(["body", loc], "not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise field_error(["body", loc], "URL scheme must be http or https")
    if not host or not raw_host or not parsed.is_absolute():
        raise field_error(["body", loc], "URL must be absolute with a host")
    if ":" not in raw_host and (given is None or given.lower() not in (raw_host, host)):
        # IDNA mapping changed the name (``ex\u2488ample`` is sent to ``ex1.ample``).
        raise field_error(["body", loc], "URL host is not the name it is sent to")
    if not _valid_host(raw_host):
        raise field_error(["body", loc], "URL host is not a valid hostname or IP address")
    if policy.refuses_literal(raw_host):
        raise field_error(["body", loc], "URL host is an address the SSRF guard refuses")
    return url


def _valid_host(host: str) -> bool:
    """A DNS name (labels of 1-63 characters that neither start nor end with a hyphen,
    253 in all) or an IP address literal."""
    if ":" in host:  # only an IPv6 literal has one; a zone id means nothing elsewhere
        if "%" in host:
            return False
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")
    return (
        _HOST.match(host) is not None
        and len(name) <= 253
        and all(
            len(label) <= 63 and not label.startswith("-") and not label.endswith("-")
            for label in name.split(".")
        )
    )


def kept_url(sent: str, stored: str) -> str:
    """A client that read an endpoint and writes its URL back sends the masked form:
    that keeps the stored credentials instead of saving ``***``."""
    return stored if sent != stored and sent == shown_url(stored) else sent


def same_kind(url: str, stored: str) -> str:
    """An endpoint stays a polling endpoint or an endpoint sent to: switching would leave
    queued deliveries aimed at ``poll://`` or consumers' cursors with nothing behind them."""
    if is_polling(url) != is_polling(stored):
        raise field_error(
            ["body", "url"], "a polling endpoint's URL cannot change kind; create another endpoint"
        )
    return url
