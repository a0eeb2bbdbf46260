"""The HTTP API role (Svix-compatible)."""

from __future__ import annotations

from hookline.api.app import create_app
from hookline.api.context import ApiContext

__all__ = ["ApiContext", "create_app"]
