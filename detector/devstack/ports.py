"""Picking ports so parallel test runs and a developer's own servers never collide."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks it (bind to port 0), which is far less collision-prone than
    a fixed or random choice; the small race until the server binds is accepted.

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
