"""The ``hookline`` command line: importing a command module adds its commands to ``main``."""

from hookline.cli import listen, server_commands
from hookline.cli.root import main

__all__ = ["listen", "main", "server_commands"]
