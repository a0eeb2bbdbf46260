from __future__ import annotations

from engine_kit import engine

__all__ = ["engine"]
