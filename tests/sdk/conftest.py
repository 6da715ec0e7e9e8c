"""A real server process for the sdk suites, and clients of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_support import (
    KEY,
    MANAGED,
)
from support import ServerProcess, client_test_servers, serving_together

from sdk import (
    SettingsClient,
)


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ...]]:
    """Three homes, started at once: main, strict and acp (see the fixtures below)."""
    root = tmp_path_factory.mktemp("sdk")
    yield from serving_together(*client_test_servers(root, MANAGED, KEY))


@pytest.fixture(scope="package")
def server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """Session key k1, and one managed server (admin-tools) from an administrator's file."""
    return servers[0]


@pytest.fixture(scope="package")
def strict_server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """--require-preconditions."""
    return servers[1]


@pytest.fixture(scope="package")
def acp_server(servers: tuple[ServerProcess, ...]) -> ServerProcess:
    """A home of its own: the test that uses it switches the agent kind to acp."""
    return servers[2]


@pytest.fixture
def api(server: ServerProcess) -> Iterator[SettingsClient]:
    with SettingsClient(server.url, api_key=KEY) as client:
        yield client
