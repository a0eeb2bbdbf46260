"""The person a page is rendered for."""

from __future__ import annotations

from dataclasses import dataclass

from hookline.access import Capability, Scope


@dataclass(frozen=True, slots=True)
class Viewer:
    """An operator (``scope.app_id`` None, pages under ``/ui``) or a portal customer
    (one application, pages under ``/portal``)."""

    scope: Scope
    csrf: str
    base: str
    session_hash: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return self.scope.is_admin

    def can(self, capability: str) -> bool:
        return self.scope.allows(Capability(capability))
