"""The ``hookline`` command group; each command module adds its commands to it."""

from __future__ import annotations

import asyncio
import logging

import click


@click.group()
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def main(log_level: str) -> None:
    """hookline: webhooks, sent and received."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(
        max(logging.WARNING, logging.getLevelName(log_level.upper()))
    )


def use_uvloop() -> None:
    """The event loop the server runs on, where uvloop exists."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
