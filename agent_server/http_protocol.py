"""uvicorn's HTTP protocol with TCP_NODELAY set on every connection it serves.

With `--workers N`, uvicorn binds the listening socket itself as `socket(AF_INET)`, whose protocol
number is 0, and asyncio sets TCP_NODELAY only on sockets whose protocol number says TCP. Every
connection a worker accepted then ran Nagle's algorithm: uvicorn writes a response's head and
body separately, so the body waited for the client's delayed ACK, 40 ms on Linux, and each
request took over 40 ms. Setting the option here holds however the socket was made.
"""

from __future__ import annotations

import asyncio
import socket
from contextlib import suppress
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

# Import path for uvicorn's `http` setting (workers import it by name).
NAME = "agent_server.http_protocol:NoDelayHTTPProtocol"


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
