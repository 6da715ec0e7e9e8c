"""Servers started without --home (the environment names it), for the command-line suites."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import (
    BareServerProcess,
    ServerProcess,
)


@pytest.fixture
def start_bare_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Servers started without --home (the environment names it); stopped after the test."""
    servers: list[ServerProcess] = []

    def start(*args: str, env: dict[str, str]) -> ServerProcess:
        server = BareServerProcess(tmp_path, *args, env=env)
        servers.append(server)
        return server.wait_ready()

    yield start
    for server in servers:
        server.stop()
