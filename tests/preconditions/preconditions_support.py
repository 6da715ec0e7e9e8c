"""What the precondition suites share: servers to write and helpers that read ETags back."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

BASE = "/api/settings/mcp-servers"
PLAINTEXT = {"X-Expose-Secrets": "plaintext"}
CANARY = "canary-hdr-5e1d"
STDIO: dict[str, Any] = {"command": "uvx", "args": ["files"], "env": {"TOKEN": "canary-env-8a2f"}}
REMOTE: dict[str, Any] = {
    "url": "https://mcp.example.com/mcp",
    "headers": {"X-Api-Key": CANARY},
    "auth": "canary-auth-44d0",
    "description": "remote tools",
}
STALE = '"stale-etag-0000"'


def url(name: str) -> str:
    return f"{BASE}/{name}"


def create(client: TestClient | httpx.Client, name: str, config: dict[str, Any]) -> str:
    response = client.put(url(name), json=config, headers={"If-None-Match": "*"})
    assert response.status_code == 201, response.text
    return response.headers["etag"]


def etag_of(client: TestClient | httpx.Client, name: str) -> str:
    response = client.get(url(name))
    assert response.status_code == 200, response.text
    return response.headers["etag"]
