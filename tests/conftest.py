"""Shared fixtures: a settings home in a temp folder, a real key, apps and real server processes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import STORES, ServerProcess, app_client

from agent_server import Config
from scripts.local_postgres import INSTALL_HELP, Cluster, pg_bin

# The API suites that exercise the store run against both stores (see docs/decisions.md); the
# rest of the suite runs against the file store only, to keep `make test` within its time.
BOTH_STORES = {
    "test_settings_document",
    "test_settings_kinds",
    "test_settings_reads",
    "test_settings_bodies",
    "test_settings_answer",
    "test_server_routes",
    "test_server_configs",
    "test_server_document",
    "test_server_list",
    "test_registry_resources",
    "test_http_details",
    "test_etags",
    "test_conditions",
    "test_concurrent_writers",
    "test_managed",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "file_only(reason): a test of settings.json itself, run on the file store only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "store" not in metafunc.fixturenames or module not in BOTH_STORES:
        return
    if metafunc.definition.get_closest_marker("file_only") is not None:
        return
    metafunc.parametrize("store", ["file", "postgresql"], indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """Which store the test's home uses: "file", or "postgresql" in the BOTH_STORES suites."""
    return str(getattr(request, "param", "file"))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A real PostgreSQL server for the session, started on first use and stopped at the end."""
    binaries = pg_bin()
    if binaries is None or not (binaries / "initdb").exists():
        pytest.fail(INSTALL_HELP)
    cluster = Cluster(binaries).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def postgres_home(home: Path, url: str) -> dict[str, str]:
    """A home whose settings live at `url`: its key files made up front, given by path."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = {
        "secret.key": Fernet.generate_key().decode(),
        "etag.key": secrets.token_hex(32),
    }
    for name, key in keys.items():
        fd = os.open(home / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
    return {
        "AGENT_SERVER_STORE": url,
        "AGENT_SERVER_SECRET_KEY_FILE": str(home / "secret.key"),
        "AGENT_SERVER_ETAG_KEY_FILE": str(home / "etag.key"),
    }


@pytest.fixture
def home(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> Iterator[Path]:
    home = tmp_path / "home"
    if store == "postgresql":
        cluster: Cluster = request.getfixturevalue("postgres_cluster")
        STORES[home] = postgres_home(home, cluster.create_database())
    yield home
    STORES.pop(home, None)


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def config(home: Path, secret_key: str) -> Config:
    env = STORES.get(home)
    if env is None:
        return Config(home=home, secret_key=secret_key)
    return Config(
        home=home,
        secret_key=secret_key,
        store=env["AGENT_SERVER_STORE"],
        etag_key_file=Path(env["AGENT_SERVER_ETAG_KEY_FILE"]),
    )


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
        client.app.state.context.store.close()  # type: ignore[attr-defined]


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


@pytest.fixture
def database(postgres_cluster: Cluster) -> str:
    """The URL of a new, empty database on the session's PostgreSQL server."""
    return postgres_cluster.create_database()
