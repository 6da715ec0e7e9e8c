"""Installing from the fake registry: each package type's command, remotes with {var} URLs and
headers, inputs and their 422s, If-None-Match: * semantics, provenance, and upgrades.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MCP_TOKEN, FakeRegistry
from starlette.testclient import TestClient
from support import MASK, read_settings, settings_bytes

INSTALL = "/api/mcp/registries/main/install"
SERVERS = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
FILES_TOKEN = "canary-files-token-0b9e"
DB_PASSWORD = "canary-db-password-77a1"


@pytest.fixture
def client(client: TestClient, fake_registry: FakeRegistry) -> TestClient:
    """The in-process client, with the fake's main registry as `main`."""
    added = client.put("/api/settings/mcp-registries/main", json={"url": fake_registry.url("main")})
    assert added.status_code == 201
    return client


def installed(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """Install; the stored config in plaintext."""
    response = client.post(INSTALL, json=body)
    assert response.status_code == 201, response.text
    name = response.json()["name"]
    assert response.headers["location"] == f"{SERVERS}/{name}"
    assert response.headers["etag"] == response.json()["etag"]
    config: dict[str, Any] = client.get(f"{SERVERS}/{name}", headers=PLAINTEXT).json()["config"]
    return config


def without_provenance(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in ("registry", "description")}


def test_each_package_type_gives_its_command(client: TestClient, home: Path) -> None:
    npm = installed(
        client,
        {"server": "io.example/npm-files", "inputs": {"FILES_TOKEN": FILES_TOKEN, "root": "/srv"}},
    )
    pypi = installed(client, {"server": "io.example/pypi-time", "inputs": {"zone": "UTC"}})
    oci = installed(
        client,
        {
            "server": "io.example/oci-db",
            "inputs": {"DB_PASSWORD": DB_PASSWORD, "data_dir": "/var/db", "SSL_MODE": "require"},
        },
    )
    nuget = installed(client, {"server": "io.example/nuget-sample"})

    assert without_provenance(npm) == {
        "command": "npx",
        "args": ["-y", "@example/files-mcp@1.2.0", "serve", "--mode", "read", "/srv"],
        "env": {"FILES_TOKEN": FILES_TOKEN, "LOG_LEVEL": "info"},
    }
    assert without_provenance(pypi) == {
        "command": "uvx",
        "args": ["--python", "3.12", "time-mcp==0.3.1", "--zone", "UTC"],
    }
    assert without_provenance(oci) == {
        "command": "docker",
        "args": [
            *("run", "-i", "--rm", "-e", "DB_PASSWORD", "-e", "SSL_MODE"),
            *("--network", "host", "-v", "/var/db:/data"),
            *("docker.io/example/db-mcp:3.1.0", "--read-only"),
        ],
        "env": {"DB_PASSWORD": DB_PASSWORD, "SSL_MODE": "require"},
    }
    assert without_provenance(nuget) == {
        "command": "dnx",
        "args": ["Example.SampleMcpServer@0.4.0-beta", "--yes", "--", "mcp", "start"],
    }
    assert npm["description"] == "Files over MCP, from npm."
    text = (home / "settings.json").read_text()
    assert FILES_TOKEN not in text and DB_PASSWORD not in text


def test_the_schema_example_installs_as_its_spec_says(client: TestClient) -> None:
    config = installed(
        client, {"server": "io.github.user/local-weather", "inputs": {"API_KEY": FILES_TOKEN}}
    )

    assert without_provenance(config) == {
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-weather@1.0.0", "--port", "8080"],
        "env": {"API_KEY": FILES_TOKEN},
    }


def test_a_remote_fills_its_url_and_headers_and_is_preferred(client: TestClient) -> None:
    remote = installed(
        client,
        {
            "server": "io.github.user/remote-weather",
            "inputs": {"Authorization": f"Bearer {MCP_TOKEN}", "host": "weather.example"},
        },
    )
    assert without_provenance(remote) == {
        "url": "https://weather.example/mcp",
        "transport": "http",
        "headers": {"Authorization": f"Bearer {MCP_TOKEN}"},
    }
    # `choose` picks the package of a server that offers both; `as` names it.
    packaged = installed(
        client, {"server": "io.example/echo", "as": "echo-npm", "choose": {"package": 0}}
    )
    assert without_provenance(packaged) == {
        "command": "npx",
        "args": ["-y", "@example/echo-mcp@1.0.0"],
    }


def test_the_stored_config_records_where_it_came_from(client: TestClient) -> None:
    config = installed(client, {"server": "io.example/pypi-time", "inputs": {"zone": "UTC"}})

    assert config["registry"] == {
        "id": "main",
        "server": "io.example/pypi-time",
        "version": "0.3.1",
        "choose": {"package": 0},
        "inputs": {"zone": "UTC"},
    }
    (summary,) = client.get(SERVERS).json()["servers"]
    assert summary["registry"] == {
        "id": "main",
        "server": "io.example/pypi-time",
        "version": "0.3.1",
    }
    assert summary["update_available"] is None
    listed = client.get("/api/mcp/registries/main/servers", params={"search": "pypi"}).json()
    assert listed["servers"][0]["installed_as"] == "pypi-time"


def test_missing_or_wrong_inputs_are_422_and_nothing_is_stored(
    client: TestClient, home: Path
) -> None:
    before = settings_bytes(home)
    cases: list[tuple[dict[str, Any], set[tuple[str, ...]]]] = [
        ({"server": "io.example/npm-files"}, {("inputs", "root"), ("inputs", "FILES_TOKEN")}),
        (
            {
                "server": "io.example/npm-files",
                "inputs": {"root": "/", "FILES_TOKEN": FILES_TOKEN, "mode": "delete"},
            },
            {("inputs", "mode")},
        ),
        (
            {"server": "io.example/nuget-sample", "inputs": {"typo": "x"}},
            {("inputs", "typo")},
        ),
        ({"server": "io.example/bundle-only"}, {("choose",)}),
        ({"server": "io.example/echo", "choose": {"remote": 3}}, {("choose",)}),
        ({"server": "io.example/echo", "as": "a/b"}, {("as",)}),
        ({"server": "no-namespace"}, {("server",)}),
        ({"server": "io.example/echo", "unknown": 1}, {("unknown",)}),
    ]
    for body, locs in cases:
        response = client.post(INSTALL, json=body)
        assert response.status_code == 422, (body, response.text)
        assert {tuple(e["loc"]) for e in response.json()["detail"]} == locs, body
        assert FILES_TOKEN not in response.text
    assert settings_bytes(home) == before
    assert client.post(INSTALL, json={"server": "io.example/none"}).status_code == 404
    assert client.post(INSTALL, json={"server": "io.example/gone"}).status_code == 409
    assert (
        client.post(INSTALL, json={"server": "io.example/echo", "version": "9"}).status_code == 404
    )
    assert settings_bytes(home) == before


def test_a_taken_name_is_412_unless_as_names_another(client: TestClient, home: Path) -> None:
    first = client.post(INSTALL, json={"server": "io.example/nuget-sample"})
    assert first.status_code == 201
    before = settings_bytes(home)

    again = client.post(INSTALL, json={"server": "io.example/nuget-sample"})
    assert again.status_code == 412
    assert again.headers["etag"] == first.headers["etag"]
    assert '"as"' in again.json()["detail"]
    assert settings_bytes(home) == before
    other = client.post(INSTALL, json={"server": "io.example/nuget-sample", "as": "nuget-2"})
    assert other.status_code == 201


# --- a remote from the registry that is a real MCP server ---------------------------------------


def test_an_installed_remote_lists_its_tools(client: TestClient, mcp_server: None) -> None:
    config = installed(
        client, {"server": "io.example/echo", "inputs": {"Authorization": f"Bearer {MCP_TOKEN}"}}
    )
    assert config["headers"] == {"Authorization": f"Bearer {MCP_TOKEN}", "X-Region": "eu"}

    tools = client.get(f"{SERVERS}/echo/tools")

    assert tools.status_code == 200
    assert tools.json()["ok"] is True, tools.text
    assert "echo" in [tool["name"] for tool in tools.json()["tools"]]


# --- upgrades -----------------------------------------------------------------------------------


def publish(fake_registry: FakeRegistry, version: str, zone_required: bool = False) -> None:
    server = {
        "name": "io.example/upgradable",
        "description": f"Version {version}.",
        "version": version,
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "upgradable-mcp",
                "version": version,
                "packageArguments": [
                    {"type": "positional", "valueHint": "root", "isRequired": True}
                ],
                "environmentVariables": [
                    {"name": "TOKEN", "isSecret": True, "isRequired": True},
                    *([{"name": "ZONE", "isRequired": True}] if zone_required else []),
                ],
            }
        ],
    }
    httpx.post(fake_registry.base + "/main/publish", json=server).raise_for_status()


def test_upgrade_moves_to_the_latest_version_and_keeps_the_inputs(
    client: TestClient, fake_registry: FakeRegistry, home: Path
) -> None:
    publish(fake_registry, "1.0.0")
    created = client.post(
        INSTALL,
        json={"server": "io.example/upgradable", "inputs": {"TOKEN": FILES_TOKEN, "root": "/r"}},
    )
    assert created.status_code == 201, created.text
    client.patch(f"{SERVERS}/upgradable", json={"timeout": 30})
    for index in range(8):  # listed after it: the list is made again in part, not whole
        assert client.put(f"{SERVERS}/w{index}", json={"command": "tool"}).status_code == 201
    token = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["upgradable"]["env"]
    # Read (and so encoded and kept) before the registry says more: the next list must follow.
    assert client.get(SERVERS).json()["servers"][0]["update_available"] is None
    publish(fake_registry, "1.1.0", zone_required=True)

    client.get("/api/mcp/registries/main/servers", params={"search": "upgradable"})
    summary, *handmade = client.get(SERVERS).json()["servers"]
    assert [server["update_available"] for server in handmade] == [None] * 8
    assert summary["update_available"] == "1.1.0"
    etag = summary["etag"]
    assert (
        client.post(f"{SERVERS}/upgradable/upgrade", headers={"If-Match": '"old"'}).status_code
        == 412
    )
    needs_zone = client.post(f"{SERVERS}/upgradable/upgrade", headers={"If-Match": etag})
    assert needs_zone.status_code == 422
    assert [e["loc"] for e in needs_zone.json()["detail"]] == [["inputs", "ZONE"]]

    upgraded = client.post(
        f"{SERVERS}/upgradable/upgrade",
        json={"inputs": {"ZONE": "UTC"}},
        headers={"If-Match": etag},
    )

    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.headers["etag"] != etag
    config = client.get(f"{SERVERS}/upgradable", headers=PLAINTEXT).json()["config"]
    assert config["args"] == ["upgradable-mcp==1.1.0", "/r"]
    assert config["env"] == {"TOKEN": FILES_TOKEN, "ZONE": "UTC"}
    assert config["timeout"] == 30
    assert config["registry"]["version"] == "1.1.0"
    stored = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]["upgradable"]
    assert stored["env"]["TOKEN"] == token["TOKEN"]  # the secret kept its token
    assert client.get(SERVERS).json()["servers"][0]["update_available"] is None
    again = client.post(f"{SERVERS}/upgradable/upgrade")
    assert again.status_code == 200
    assert again.headers["etag"] == upgraded.headers["etag"]


def test_upgrade_of_a_server_not_from_a_registry_is_409(client: TestClient) -> None:
    client.put(f"{SERVERS}/handmade", json={"command": "tool"})

    refused = client.post(f"{SERVERS}/handmade/upgrade")

    assert refused.status_code == 409
    assert "registry" in refused.json()["detail"]
    assert client.post(f"{SERVERS}/missing/upgrade").status_code == 404


def test_secret_inputs_never_appear_in_answers(client: TestClient) -> None:
    response = client.post(
        INSTALL,
        json={
            "server": "io.example/npm-files",
            "inputs": {"FILES_TOKEN": FILES_TOKEN, "root": "/"},
        },
    )
    assert response.json()["config"]["env"]["FILES_TOKEN"] == MASK
    for text in (response.text, client.get(SERVERS).text, json.dumps(dict(response.headers))):
        assert FILES_TOKEN not in text


def test_an_upgrade_body_is_bounded_like_every_body(client: TestClient) -> None:
    installed(client, {"server": "io.example/nuget-sample"})

    too_big = client.post(
        f"{SERVERS}/nuget-sample/upgrade",
        content=b'{"inputs": {"a": "' + b"x" * (1024 * 1024) + b'"}}',
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    not_an_object = client.post(
        f"{SERVERS}/nuget-sample/upgrade",
        content=b"[1]",
        headers={"Content-Type": "application/json"},
    )
    assert not_an_object.status_code == 400
