"""A free TCP port on 127.0.0.1, for a server a test or a benchmark is about to start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Free when asked; another process could take it before the server binds, which on a
    loopback address nobody else uses is rare enough for tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
