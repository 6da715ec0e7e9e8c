"""What the MCP server resource suites share: canaries, a seeded document, and helpers that
write and read servers through HTTP or read what is on disk."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient
from support import read_settings, secret_tokens

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
ENCRYPTED = {"X-Expose-Secrets": "encrypted"}

ENV_A = "canary-env-a-71c2"
ENV_B = "canary-env-b-9d03"
HDR = "canary-hdr-5e1d"
AUTH = "canary-auth-3f8a"
LLM_KEY = "canary-llm-0c4b"
CANARIES = (ENV_A, ENV_B, HDR, AUTH, LLM_KEY)

STDIO: dict[str, Any] = {"command": "uvx", "args": ["files-mcp"], "env": {"A": ENV_A, "B": ENV_B}}
REMOTE: dict[str, Any] = {
    "url": "https://mcp.example.com/mcp",
    "transport": "sse",
    "headers": {"X-Api-Key": HDR},
    "auth": AUTH,
}
SUMMARY_KEYS = {
    *("name", "source", "transport_kind", "transport", "enabled", "description", "icon"),
    *("registry", "update_available"),
}


def url(name: str) -> str:
    return f"{BASE}/{name}"


def put(client: TestClient, name: str, config: Any, **headers: str) -> httpx.Response:
    return client.put(url(name), json=config, headers=headers)


def created(client: TestClient, name: str, config: dict[str, Any]) -> str:
    """PUT a new server; its ETag."""
    response = put(client, name, config)
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def plaintext(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(url(name), headers=PLAINTEXT)
    assert response.status_code == 200, response.text
    config: dict[str, Any] = response.json()["config"]
    return config


def stored_servers(home: Path) -> dict[str, Any]:
    servers: dict[str, Any] = read_settings(home)["agent_settings"]["mcp_config"]["mcpServers"]
    return servers


def tokens(home: Path) -> dict[tuple[str, ...], str]:
    return secret_tokens(read_settings(home)["agent_settings"])


def assert_no_canary(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def seed_document(client: TestClient) -> None:
    """A document with an LLM key, misc settings, a sibling key of mcpServers and two servers."""
    response = client.patch(
        "/api/settings",
        json={
            "agent_settings_diff": {
                "llm": {"model": "gpt-test", "api_key": LLM_KEY},
                "mcp_config": {
                    "x-ide": {"theme": "dark", "pinned": ["a", "b"]},
                    "mcpServers": {"a": STDIO, "b": REMOTE},
                },
            },
            "misc_settings_diff": {"ui": {"lang": "fr"}, "n": 3},
        },
    )
    assert response.status_code == 200, response.text


def without_server(document: dict[str, Any], name: str) -> dict[str, Any]:
    rest = copy.deepcopy(document)
    rest["agent_settings"]["mcp_config"]["mcpServers"].pop(name, None)
    return rest
