"""Free loopback ports for the servers the tests and the bench launch."""

from __future__ import annotations

import socket

_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, and never one this process handed out before: a
    server launched on the last one may not have bound it yet when the next is asked for, and
    the kernel may offer the same port again meanwhile."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
