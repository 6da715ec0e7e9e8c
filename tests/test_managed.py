"""Managed MCP servers: an administrator's fastmcp MCPConfig file given to `serve --managed-config`
(or AGENT_SERVER_MANAGED_CONFIG). Listed and readable with source "managed", never writable
through the API, their `${env:NAME}` secrets filled from the server's environment and never
written to settings.json.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from support import (
    MASK,
    ROOT,
    ServerProcess,
    cli_env,
    free_port,
    read_settings,
    run_refused,
    settings_bytes,
    settings_written,
)

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
ENCRYPTED = {"X-Expose-Secrets": "encrypted"}
MANAGED_TEXT = "managed by the administrator's configuration"

HDR = "canary-managed-hdr-19ce"
AUTH = "canary-managed-auth-2b7d"
LICENSE = "canary-managed-env-6f31"
MANAGED: dict[str, Any] = {
    "mcpServers": {
        "corp-search": {
            "url": "https://corp.example.com/mcp",
            "transport": "http",
            "headers": {"X-Corp-Key": HDR},
            "auth": AUTH,
            "description": "Corp search",
        },
        "corp-tool": {"command": "corp-tool", "args": ["--serve"], "env": {"LICENSE": LICENSE}},
    }
}
USER: dict[str, Any] = {"command": "uvx", "args": ["files"], "env": {"TOKEN": "user-token"}}

STDIO_TOOLS = ROOT / "tests" / "mcp_servers" / "stdio_tools.py"
ENV_KEY = "canary-envref-key-7c1e"
ENV_AUTH = "canary-envref-auth-03a9"
WITH_REFERENCES: dict[str, Any] = {
    "mcpServers": {
        "corp-search": {
            "url": "https://corp.example.com/mcp",
            "headers": {"X-Corp-Key": "${env:CORP_KEY}"},
            "auth": "${env:CORP_AUTH}",
        },
        "corp-tool": {
            "command": sys.executable,
            "args": [str(STDIO_TOOLS)],
            "env": {"MCP_TEST_SECRET": "${env:CORP_KEY}", "PLAIN": "p"},
        },
    }
}


def url(name: str) -> str:
    return f"{BASE}/{name}"


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def managed_path(tmp_path: Path) -> Path:
    return write_config(tmp_path / "managed.json", MANAGED)


@pytest.fixture
def managed_client(make_client: Callable[..., TestClient], managed_path: Path) -> TestClient:
    return make_client(managed_config=managed_path)


def settings_text(home: Path) -> str:
    return settings_bytes(home).decode() if settings_written(home) else ""


def assert_no_managed_secret(text: str) -> None:
    for secret in (HDR, AUTH, LICENSE, ENV_KEY, ENV_AUTH):
        assert secret not in text


def test_managed_servers_are_listed_with_source_managed(managed_client: TestClient) -> None:
    assert managed_client.put(url("files"), json=USER).status_code == 201
    response = managed_client.get(BASE)
    assert response.status_code == 200
    servers = response.json()["servers"]
    assert [(s["name"], s["source"]) for s in servers] == [
        ("corp-search", "managed"),
        ("corp-tool", "managed"),
        ("files", "user"),
    ]
    search = servers[0]
    assert search["transport_kind"] == "remote"
    assert search["transport"] == "http"
    assert search["description"] == "Corp search"
    assert search["enabled"] is True
    assert servers[1]["transport_kind"] == "stdio"
    assert_no_managed_secret(response.text)


def test_managed_servers_read_with_masked_secrets(managed_client: TestClient) -> None:
    for headers in ({}, {"X-Expose-Secrets": "redacted"}):
        search = managed_client.get(url("corp-search"), headers=headers)
        assert search.status_code == 200
        body = search.json()
        assert body["source"] == "managed"
        assert body["name"] == "corp-search"
        assert body["config"]["headers"] == {"X-Corp-Key": MASK}
        assert body["config"]["auth"] == MASK
        assert body["config"]["url"] == "https://corp.example.com/mcp"
        tool = managed_client.get(url("corp-tool"), headers=headers)
        assert tool.json()["config"] == {
            **MANAGED["mcpServers"]["corp-tool"],
            "env": {"LICENSE": MASK},
        }
        assert_no_managed_secret(search.text + tool.text)
    # Neither an admin's encrypted nor plaintext read shows a managed server's secrets: they
    # leave the service only towards their own server.
    redacted = managed_client.get(url("corp-search")).json()["config"]
    for mode in (ENCRYPTED, PLAINTEXT):
        exposed = managed_client.get(url("corp-search"), headers=mode)
        assert exposed.status_code == 200
        assert_no_managed_secret(exposed.text)
        assert exposed.json()["config"] == redacted
    plain = managed_client.get(url("corp-search"), headers=PLAINTEXT)
    etag = plain.headers["etag"]
    assert plain.json()["etag"] == etag
    assert (
        managed_client.get(url("corp-search"), headers={"If-None-Match": etag}).status_code == 304
    )


def test_writes_to_a_managed_server_are_403(managed_client: TestClient, home: Path) -> None:
    assert managed_client.put(url("files"), json=USER).status_code == 201
    before = settings_text(home)
    etag = managed_client.get(url("corp-tool")).headers["etag"]
    for response in (
        managed_client.put(url("corp-tool"), json=USER),
        managed_client.put(url("corp-tool"), json=USER, headers={"If-Match": etag}),
        managed_client.patch(url("corp-tool"), json={"args": []}),
        managed_client.patch(url("corp-search"), json={"headers": {"X-Corp-Key": "mine"}}),
        managed_client.delete(url("corp-tool")),
        managed_client.delete(url("corp-search"), headers={"If-Match": "*"}),
    ):
        assert response.status_code == 403, response.text
        assert MANAGED_TEXT in response.json()["detail"]
        assert_no_managed_secret(response.text)
    assert settings_text(home) == before
    after = managed_client.get(url("corp-tool"))
    assert after.headers["etag"] == etag
    assert after.json()["config"] == {
        **MANAGED["mcpServers"]["corp-tool"],
        "env": {"LICENSE": MASK},
    }


def test_creating_a_user_server_with_a_managed_name_is_403(
    managed_client: TestClient, home: Path
) -> None:
    for headers in ({}, {"If-None-Match": "*"}):
        response = managed_client.put(url("corp-search"), json=USER, headers=headers)
        assert response.status_code == 403
        assert MANAGED_TEXT in response.json()["detail"]
    assert not settings_written(home)
    assert managed_client.get(url("corp-search")).json()["source"] == "managed"


def test_a_managed_name_hides_and_protects_a_stored_user_server(
    make_client: Callable[..., TestClient], managed_path: Path, home: Path
) -> None:
    unmanaged = make_client()
    assert unmanaged.put(url("corp-tool"), json=USER).status_code == 201
    before = settings_text(home)
    managed = make_client(managed_config=managed_path)
    listing = managed.get(BASE).json()["servers"]
    assert [(s["name"], s["source"]) for s in listing] == [
        ("corp-search", "managed"),
        ("corp-tool", "managed"),
    ]
    read = managed.get(url("corp-tool"), headers=PLAINTEXT).json()
    assert read["source"] == "managed"
    assert read["config"] == {**MANAGED["mcpServers"]["corp-tool"], "env": {"LICENSE": MASK}}
    assert managed.delete(url("corp-tool")).status_code == 403
    assert managed.put(url("corp-tool"), json=USER).status_code == 403
    assert settings_text(home) == before


def test_a_global_patch_naming_a_managed_server_is_403(
    managed_client: TestClient, home: Path
) -> None:
    assert managed_client.put(url("files"), json=USER).status_code == 201
    before = settings_text(home)
    for servers in (
        {"corp-tool": USER},
        {"corp-search": {"description": "mine"}},
        {"corp-tool": None},
        {"files": {"args": ["-v"]}, "corp-search": USER},
    ):
        response = managed_client.patch(
            "/api/settings",
            json={"agent_settings_diff": {"mcp_config": {"mcpServers": servers}}},
        )
        assert response.status_code == 403, servers
        assert MANAGED_TEXT in response.json()["detail"]
    assert settings_text(home) == before
    files = {"files": {"description": "mine"}}
    allowed = managed_client.patch(
        "/api/settings", json={"agent_settings_diff": {"mcp_config": {"mcpServers": files}}}
    )
    assert allowed.status_code == 200
    assert "corp-tool" not in read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]


def _user_writes(http: httpx.Client) -> None:
    """Several kinds of user writes, each of which rewrites settings.json."""
    assert http.put(url("files"), json=USER).status_code == 201
    assert http.patch(url("files"), json={"env": {"MORE": "m"}}).status_code == 200
    assert (
        http.put(url("other"), json={"url": "https://o.example/mcp", "auth": "o"}).status_code
        == 201
    )
    assert http.delete(url("other")).status_code == 204
    response = http.patch(
        "/api/settings",
        json={
            "agent_settings_diff": {"llm": {"api_key": "sk-user"}},
            "misc_settings_diff": {"theme": "dark"},
        },
    )
    assert response.status_code == 200


def test_env_references_are_filled_at_load_and_never_written(
    tmp_path: Path, home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    path = write_config(tmp_path / "managed.json", WITH_REFERENCES)
    env = cli_env(CORP_KEY=ENV_KEY, CORP_AUTH=ENV_AUTH)
    server = start_server(home, "--managed-config", str(path), env=env)
    with server.client(timeout=60) as http:
        # The filled value reaches its own server (the tool's name carries its hash), and
        # no read shows it, an admin's plaintext read included.
        tools = http.get(url("corp-tool") + "/tools").json()
        proof = "env_" + hashlib.sha256(ENV_KEY.encode()).hexdigest()[:16]
        assert proof in [tool["name"] for tool in tools["tools"]], tools
        tool = http.get(url("corp-tool"), headers=PLAINTEXT).json()["config"]
        assert tool["env"] == {"MCP_TEST_SECRET": MASK, "PLAIN": MASK}
        plain = http.get(url("corp-search"), headers=PLAINTEXT).json()
        assert plain["source"] == "managed"
        assert plain["config"]["headers"] == {"X-Corp-Key": MASK}
        assert_no_managed_secret(json.dumps(plain))
        redacted = http.get(url("corp-search"))
        assert redacted.json()["config"]["headers"] == {"X-Corp-Key": MASK}
        assert redacted.json()["config"]["auth"] == MASK
        assert_no_managed_secret(redacted.text + http.get(BASE).text)
        tokens = http.get(url("corp-search"), headers=ENCRYPTED).json()["config"]
        assert tokens == redacted.json()["config"]

        _user_writes(http)
        text = settings_text(home)
        assert_no_managed_secret(text)
        assert "corp-search" not in text and "corp-tool" not in text
        assert "${env:" not in text
        listing = http.get(BASE).json()["servers"]
        assert [(s["name"], s["source"]) for s in listing] == [
            ("corp-search", "managed"),
            ("corp-tool", "managed"),
            ("files", "user"),
        ]


def test_managed_config_from_the_environment_variable(
    tmp_path: Path, home: Path, start_server: Callable[..., ServerProcess]
) -> None:
    path = write_config(tmp_path / "managed.json", WITH_REFERENCES)
    env = cli_env(AGENT_SERVER_MANAGED_CONFIG=str(path), CORP_KEY=ENV_KEY, CORP_AUTH=ENV_AUTH)
    server = start_server(home, env=env)
    with server.client() as http:
        read = http.get(url("corp-search"), headers=PLAINTEXT).json()
        assert read["source"] == "managed"
        assert read["config"]["auth"] == MASK
        refused = http.delete(url("corp-search"))
        assert refused.status_code == 403
        assert MANAGED_TEXT in refused.json()["detail"]
        _user_writes(http)
    assert_no_managed_secret(settings_text(home))


def test_a_missing_env_variable_keeps_the_server_from_starting(tmp_path: Path, home: Path) -> None:
    path = write_config(tmp_path / "managed.json", WITH_REFERENCES)
    port = free_port()
    result = run_refused(
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--home",
        str(home),
        "--managed-config",
        str(path),
        env=cli_env(CORP_KEY=ENV_KEY),
    )
    assert result.returncode != 0
    assert "CORP_AUTH" in result.stderr
    assert "Traceback" not in result.stderr  # a refusal that says why, not a crash
    assert ENV_KEY not in result.stderr + result.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    assert not settings_written(home)
