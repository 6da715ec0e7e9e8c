"""Every connection is served with TCP_NODELAY, however uvicorn made the listening socket.

With several workers uvicorn binds `socket(AF_INET)` itself (protocol number 0), and asyncio then
leaves Nagle's algorithm on for every accepted connection: each response's body waited for the
client's delayed ACK, over 40 ms a request. The server is built here the way a worker builds it,
on the socket uvicorn's own `bind_socket` makes, and the accepted socket is asked for its option.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from uvicorn import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from agent_server.http_protocol import NoDelayHTTPProtocol


async def _empty_app(scope: Any, receive: Any, send: Any) -> None:
    return None


async def nodelay_of_accepted(protocol_class: type[Any]) -> int:
    config = Config(_empty_app, host="127.0.0.1", port=0, workers=2, log_config=None)
    config.load()
    listener = config.bind_socket()  # exactly what the multi-worker supervisor hands workers
    assert listener.proto == 0
    made: list[Any] = []

    def factory() -> Any:
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        made.append(protocol)
        return protocol

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=listener)
    try:
        _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(100):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        accepted = made[0].transport.get_extra_info("socket")
        value: int = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return value
    finally:
        server.close()
        await server.wait_closed()


def test_a_worker_sets_tcp_nodelay_on_every_connection() -> None:
    assert asyncio.run(nodelay_of_accepted(NoDelayHTTPProtocol)) != 0


def test_without_it_uvicorn_workers_leave_nagle_on() -> None:
    """What the class is for: uvicorn's own protocol on that socket leaves the option off."""
    if asyncio.run(nodelay_of_accepted(AutoHTTPProtocol)) != 0:
        pytest.fail("uvicorn now sets TCP_NODELAY itself: agent_server.http_protocol can go")
