"""Connectors: ids for the servers here and for registries' remote servers, listed page by page
and resolved with live server information once installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MCP_TOKEN, FakeRegistry
from starlette.testclient import TestClient

CONNECTORS = "/api/connectors"
ECHO = "mcp::main::io.example%2Fecho"


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], fake_registry: FakeRegistry, tmp_path: Path
) -> TestClient:
    """Servers here (user, disabled, managed) and the fake's main registry; official disabled."""
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"mcpServers": {"corp": {"command": "corp-tool"}}}))
    client = make_client(managed_config=managed)
    client.put("/api/settings/mcp-registries/main", json={"url": fake_registry.url("main")})
    client.patch("/api/settings/mcp-registries/official", json={"enabled": False})
    client.put("/api/settings/mcp-servers/files", json={"command": "files", "description": "F"})
    client.put("/api/settings/mcp-servers/off", json={"command": "off", "enabled": False})
    client.put(
        "/api/settings/mcp-servers/web",
        json={"url": "https://web.example/mcp?key=canary-query-3e1c", "transport": "sse"},
    )
    return client


def every_page(client: TestClient, limit: int, **params: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    cursor = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        page = client.get(CONNECTORS, params=query)
        assert page.status_code == 200, page.text
        found += page.json()["connectors"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


def test_the_listing_holds_servers_here_then_registries_remote_servers(
    client: TestClient,
) -> None:
    connectors = every_page(client, limit=30)

    assert [(c["id"], c["source"]) for c in connectors] == [
        ("corp", "managed"),
        ("files", "user"),
        ("web", "user"),
        ("mcp::main::io.example/echo", "registry"),
        ("mcp::main::io.github.user/remote-weather", "registry"),
    ]
    by_id = {c["id"]: c for c in connectors}
    assert by_id["files"]["transport"] == "stdio" and by_id["files"]["url"] is None
    assert by_id["files"]["description"] == "F"
    assert by_id["web"]["url"] == "https://web.example/mcp?**********"
    weather = by_id["mcp::main::io.github.user/remote-weather"]
    assert weather["url"] == "https://api.example.com/mcp"
    assert weather["transport"] == "http"
    assert weather["title"] == "Remote Weather"
    assert every_page(client, limit=1) == connectors
    only_main = every_page(client, limit=30, registry="main")
    assert [c["id"] for c in only_main] == [c["id"] for c in connectors[3:]]


def test_bad_ids_cursors_and_registries_are_clear_4xx(client: TestClient) -> None:
    assert client.get(CONNECTORS, params={"cursor": "nonsense"}).status_code == 400
    assert client.get(CONNECTORS, params={"registry": "nowhere"}).status_code == 404
    assert client.get(CONNECTORS, params={"registry": "official"}).status_code == 409
    assert client.get(f"{CONNECTORS}/mcp::main::no-slash").status_code == 400
    assert client.get(f"{CONNECTORS}/nothing-here").status_code == 404
    assert client.get(f"{CONNECTORS}/mcp::main::io.example%2Fnone").status_code == 404


def test_a_registry_connector_is_live_once_installed(client: TestClient, mcp_server: None) -> None:
    before = client.get(f"{CONNECTORS}/{ECHO}")
    assert before.status_code == 200
    assert before.json()["installed_as"] is None
    assert "install" in before.json()["error"]
    assert before.json()["server_name"] is None
    assert client.get(f"{CONNECTORS}/{ECHO}/tools").status_code == 409

    installed = client.post(
        "/api/mcp/registries/main/install",
        json={"server": "io.example/echo", "inputs": {"Authorization": f"Bearer {MCP_TOKEN}"}},
    )
    assert installed.status_code == 201, installed.text

    after = client.get(f"{CONNECTORS}/{ECHO}")
    assert after.status_code == 200
    assert after.json()["installed_as"] == "echo"
    assert (after.json()["server_name"], after.json()["server_version"]) == ("http-tools", "0.9")
    assert after.json()["error"] is None
    tools = client.get(f"{CONNECTORS}/{ECHO}/tools")
    assert tools.json()["ok"] is True
    assert "echo" in [tool["name"] for tool in tools.json()["tools"]]
    local = client.get(f"{CONNECTORS}/echo")
    assert local.json()["server_name"] == "http-tools"
    assert MCP_TOKEN not in after.text + tools.text + local.text


def test_a_connector_takes_the_callers_credentials_like_every_connecting_route(
    client: TestClient, fake_registry: FakeRegistry, mcp_server: None
) -> None:
    url = f"http://127.0.0.1:{fake_registry.mcp_port}/mcp"
    created = client.put("/api/settings/mcp-servers/secured", json={"url": url, "auth": "client"})
    assert created.status_code == 201, created.text

    without = client.get(f"{CONNECTORS}/secured/tools")
    assert without.json()["ok"] is False and without.json()["error_kind"] == "auth"
    given = {"MCP-HEADERS": json.dumps({"secured": {"Authorization": f"Bearer {MCP_TOKEN}"}})}
    tools = client.get(f"{CONNECTORS}/secured/tools", headers=given)
    assert tools.json()["ok"] is True, tools.text
    detail = client.get(f"{CONNECTORS}/secured", headers=given)
    assert detail.json()["server_name"] == "http-tools"
    refused = {"MCP-HEADERS": json.dumps({"files": {"X-Other": "x"}})}  # not left to the caller
    assert client.get(f"{CONNECTORS}/secured/tools", headers=refused).status_code == 400
    assert MCP_TOKEN not in tools.text + detail.text
