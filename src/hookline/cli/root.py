"""The ``hookline`` command group; each command module adds its commands to it."""

from __future__ import annotations

import asyncio
import logging

import click

from hookline import logs


@click.group()
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    envvar="HOOKLINE_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="[env HOOKLINE_LOG_LEVEL]",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    envvar="HOOKLINE_LOG_FORMAT",
    type=click.Choice(logs.FORMATS),
    help="text, or json: one JSON object per line [env HOOKLINE_LOG_FORMAT].",
)
def main(log_level: str, log_format: str) -> None:
    """hookline: webhooks, sent and received."""
    logs.configure(log_level, log_format)
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
