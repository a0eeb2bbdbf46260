"""What the pages are handed by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hookline.store.base import Store


@dataclass(frozen=True, slots=True)
class Branding:
    """The consumer portal's look: a SaaS shows its own logo and colour."""

    logo_url: str | None = None
    primary_color: str = "#4f46e5"
    name: str = "hookline"


@dataclass(slots=True)
class UiConfig:
    store: Store
    admin_token: str
    public_url: str = "http://127.0.0.1:8000"
    session_ttl_s: float = 12 * 3600.0
    # origins allowed to show the portal in an iframe; nobody else may frame any page
    frame_ancestors: tuple[str, ...] = ()
    branding: Branding = field(default_factory=Branding)
    # the live tail's stream: how often it reads new attempts, and how often it sends a
    # keep-alive comment and looks the session up again
    live_poll_s: float = 0.5
    live_heartbeat_s: float = 15.0

    @property
    def secure_cookies(self) -> bool:
        """Browsers keep ``Secure`` cookies on https and on loopback http only; an
        embedded portal needs ``SameSite=None``, which needs ``Secure``."""
        parts = urlsplit(self.public_url)
        return parts.scheme == "https" or (parts.hostname or "") in (
            "localhost",
            "127.0.0.1",
            "::1",
        )
