"""The ``hookline`` command line: importing a command module adds its commands to ``main``.

The API commands import only the HTTP client and Rich; the server's modules (FastAPI,
SQLAlchemy, the runtime) load only inside the commands that run a server.
"""

from hookline.cli import (
    cmd_apps,
    cmd_catalog,
    cmd_endpoints,
    cmd_login,
    cmd_messages,
    cmd_seed,
    cmd_sources,
    cmd_tools,
    listen,
    server_commands,
)
from hookline.cli.root import main

__all__ = [
    "cmd_apps",
    "cmd_catalog",
    "cmd_endpoints",
    "cmd_login",
    "cmd_messages",
    "cmd_seed",
    "cmd_sources",
    "cmd_tools",
    "listen",
    "main",
    "server_commands",
]
