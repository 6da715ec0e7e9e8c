"""What the /api/settings suites share: the canaries, a seeded document and the PATCH helper."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

URL = "/api/settings"

CANARY_LLM = "canary-llm-7f3a"
CANARY_ENV = "canary-env-91b2"
CANARY_HEADER = "canary-header-5c0d"
CANARY_AUTH = "canary-auth-e4a8"

PREFS = {"theme": "dark", "pinned": ["alpha", "gamma"], "nested": {"n": 1, "flag": True}}


def seed_agent() -> dict[str, Any]:
    """Agent settings with an LLM key, stdio and remote servers with secrets, and a sibling key."""
    return {
        "llm": {"model": "gpt-x", "api_key": CANARY_LLM, "base_url": "https://llm.example"},
        "mcp_config": {
            "x-client-prefs": PREFS,
            "mcpServers": {
                "alpha": {"command": "npx", "args": ["-y", "alpha"], "env": {"TOKEN": CANARY_ENV}},
                "gamma": {
                    "url": "https://mcp.example/gamma",
                    "headers": {"X-Api-Key": CANARY_HEADER},
                    "auth": CANARY_AUTH,
                },
                "delta": {"url": "https://mcp.example/delta", "transport": "sse", "auth": "oauth"},
            },
        },
    }


def patch(client: TestClient, agent: Any = None, misc: Any = None) -> Any:
    body: dict[str, Any] = {}
    if agent is not None:
        body["agent_settings_diff"] = agent
    if misc is not None:
        body["misc_settings_diff"] = misc
    return client.patch(URL, json=body)


def seeded(client: TestClient) -> None:
    response = patch(client, agent=seed_agent(), misc={"ui": {"lang": "en"}})
    assert response.status_code == 200, response.text


def assert_detail_only(response: Any) -> Any:
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]
