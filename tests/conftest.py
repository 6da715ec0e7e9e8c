"""Shared fixtures: a settings home in a temp folder, a real key, apps and real server processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import ServerProcess, app_client

from agent_server import Config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def config(home: Path, secret_key: str) -> Config:
    return Config(home=home, secret_key=secret_key)


@pytest.fixture
def make_client(config: Config) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over a fresh app; keyword arguments replace fields of the test's Config."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client: TestClient = app_client(Config(**{**config.__dict__, **overrides}))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """Start real `agent_server serve` processes; every one is stopped after the test."""
    servers: list[ServerProcess] = []

    def start(home: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(home, *args, env=env)
        servers.append(server)
        return server.wait_ready()

    yield start
    for server in servers:
        server.stop()
