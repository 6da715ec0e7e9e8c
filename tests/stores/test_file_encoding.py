"""settings.json as the file store writes it in parts: after any mix of writes, the file is exactly
orjson's encoding of the document it holds, and holds what the API says, whichever way each
version was written (a few servers re-encoded, the outer document again, or everything)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from support import app_client

from agent_server import Config

BASE = "/api/settings/mcp-servers"
KEY = Fernet.generate_key().decode()
ENCRYPTED = {"X-Expose-Secrets": "encrypted"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    with app_client(Config(home=home, secret_key=KEY)) as client:
        yield client


def check_file(home: Path, client: TestClient) -> list[str]:
    """The file is orjson's own encoding of its content, and its servers are the API's, in
    order; their names."""
    data = (home / "settings.json").read_bytes()
    stored = orjson.loads(data)
    assert orjson.dumps(stored) == data
    servers: dict[str, Any] = stored["agent_settings"]["mcp_config"]["mcpServers"]
    whole = client.get("/api/settings", headers=ENCRYPTED).json()
    assert whole["agent_settings"]["mcp_config"]["mcpServers"] == servers
    assert whole["misc_settings"] == stored["misc_settings"]
    return list(servers)


def put(client: TestClient, name: str, **config: Any) -> None:
    response = client.put(f"{BASE}/{name}", json={"command": name, **config})
    assert response.status_code in (200, 201), response.text


def step(client: TestClient, kind: str, value: Any, names: list[str]) -> None:
    """One write of a kind; `names` follows the servers it adds or removes."""
    if kind == "patch":
        name, body = value
        response = client.patch(f"{BASE}/{name}", json=body)
        assert response.status_code == 200, response.text
    elif kind == "delete":
        assert client.delete(f"{BASE}/{value}").status_code == 204
        names.remove(value)
    elif kind == "put":
        put(client, value)
        names.append(value)
    elif kind == "settings":
        assert client.patch("/api/settings", json=value).status_code == 200
    else:
        body = {"url": "https://registry.example.test", "title": "Extra"}
        response = client.put(f"/api/settings/mcp-registries/{value}", json=body)
        assert response.status_code in (200, 201), response.text


def test_the_file_is_the_documents_own_encoding_after_every_kind_of_write(
    home: Path, client: TestClient
) -> None:
    names = [f"s{i:03d}" for i in range(150)]  # more than two chunks of servers
    for name in names[:3]:
        put(client, name, env={"TOKEN": f"secret-{name}"})
        assert check_file(home, client) == names[: names.index(name) + 1]
    for name in names[3:]:
        put(client, name)
    assert check_file(home, client) == names

    steps: list[tuple[str, Any]] = [
        ("patch", ("s000", {"env": {"TOKEN": "changed"}})),  # the first server, no comma
        ("patch", ("s070", {"description": "in the second chunk"})),
        ("patch", ("s149", {"args": ["last"]})),
        ("delete", "s000"),  # the first goes: the next one loses its comma
        ("delete", "s001"),
        ("patch", ("s002", {"description": "now the first"})),
        ("delete", "s149"),
        ("put", "s000"),  # back, at the end
        ("put", "new-1"),
        ("settings", {"misc_settings_diff": {"theme": "dark"}}),  # the outer document only
        ("patch", ("s050", {"description": "after the outer write"})),
        ("registry", "extra"),
        ("patch", ("s051", {"description": "after a registry"})),
    ]
    expected = names[:]
    for kind, value in steps:
        step(client, kind, value, expected)
        assert check_file(home, client) == expected, (kind, value)

    # Every server deleted, then one made again: the only one has no comma.
    for name in expected:
        assert client.delete(f"{BASE}/{name}").status_code == 204
    assert check_file(home, client) == []
    put(client, "alone")
    assert check_file(home, client) == ["alone"]


def test_a_restart_reads_what_the_parts_wrote(home: Path, client: TestClient) -> None:
    for i in range(70):
        put(client, f"s{i}", env={"K": f"v{i}"})
    assert client.delete(f"{BASE}/s0").status_code == 204
    assert client.patch(f"{BASE}/s69", json={"env": {"K": "last"}}).status_code == 200
    before = client.get(BASE).json()
    with app_client(Config(home=home, secret_key=KEY)) as again:
        assert again.get(BASE).json() == before
        response = again.get(f"{BASE}/s69", headers={"X-Expose-Secrets": "plaintext"})
        assert response.json()["config"]["env"] == {"K": "last"}


def test_two_processes_taking_turns_write_the_documents_own_encoding(home: Path) -> None:
    """Two apps on one home, as two workers: each write starts from what the other wrote."""
    config = Config(home=home, secret_key=KEY)
    with app_client(config) as a, app_client(config) as b:
        for i in range(70):
            put(a, f"s{i:02d}", env={"K": f"v{i}"})
        expected = [f"s{i:02d}" for i in range(70)]
        turns: list[tuple[TestClient, str, Any]] = [
            (b, "patch", ("s01", {"env": {"K": "by b"}})),
            (a, "patch", ("s02", {"description": "by a"})),
            (b, "delete", "s00"),
            (a, "patch", ("s01", {"description": "a after b"})),
            (a, "put", "from-a"),
            (b, "patch", ("from-a", {"description": "b on a's"})),
            (b, "settings", {"misc_settings_diff": {"from": "b"}}),
            (a, "patch", ("s69", {"description": "a after b's settings"})),
            (b, "delete", "s01"),
            (a, "put", "s00"),
            (b, "patch", ("s00", {"description": "back"})),
        ]
        for client, kind, value in turns:
            step(client, kind, value, expected)
            for reader in (a, b):
                assert check_file(home, reader) == expected, (kind, value)
