"""What the secrets suites share: canaries in every kind of secret slot, and helpers that read
the tokens and plaintexts back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from support import secret_tokens, settings_bytes

URL = "/api/settings"

# Every canary starts with "canary-": no file, response or log line may ever hold that text.
SECRETS: dict[tuple[str, ...], str] = {
    ("llm", "api_key"): "canary-llm-7f3a",
    ("alpha", "env", "A_TOKEN"): "canary-env-91b2",
    ("alpha", "env", "A_REGION"): "canary-env-a2c4",
    ("beta", "env", "B_TOKEN"): "canary-env-b1d6",
    ("beta", "env", "B_SECRET"): "canary-env-b2e8",
    ("beta", "env", "B_EXTRA"): "canary-env-b3f0",
    ("gamma", "headers", "X-Api-Key"): "canary-header-g1a1",
    ("gamma", "headers", "X-Org"): "canary-header-g2b2",
    ("gamma", "auth"): "canary-auth-g3c3",
    ("epsilon", "headers", "Authorization"): "canary-header-e1d4",
}


def seed_agent() -> dict[str, Any]:
    def s(*path: str) -> str:
        return SECRETS[path]

    return {
        "llm": {"model": "gpt-x", "api_key": s("llm", "api_key")},
        "mcp_config": {
            "x-client-prefs": {"order": ["beta", "alpha"]},
            "mcpServers": {
                "alpha": {
                    "command": "npx",
                    "args": ["-y", "alpha"],
                    "env": {
                        "A_TOKEN": s("alpha", "env", "A_TOKEN"),
                        "A_REGION": s("alpha", "env", "A_REGION"),
                    },
                },
                "beta": {
                    "command": "uvx",
                    "args": ["beta"],
                    "env": {
                        "B_TOKEN": s("beta", "env", "B_TOKEN"),
                        "B_SECRET": s("beta", "env", "B_SECRET"),
                        "B_EXTRA": s("beta", "env", "B_EXTRA"),
                    },
                },
                "gamma": {
                    "url": "https://mcp.example/gamma",
                    "transport": "http",
                    "headers": {
                        "X-Api-Key": s("gamma", "headers", "X-Api-Key"),
                        "X-Org": s("gamma", "headers", "X-Org"),
                    },
                    "auth": s("gamma", "auth"),
                },
                "delta": {"url": "https://mcp.example/delta", "auth": "oauth"},
                "epsilon": {
                    "url": "http://127.0.0.1:9000/sse",
                    "transport": "sse",
                    "headers": {"Authorization": s("epsilon", "headers", "Authorization")},
                },
            },
        },
    }


def patch_agent(client: TestClient, diff: dict[str, Any]) -> Any:
    return client.patch(URL, json={"agent_settings_diff": diff})


def read(client: TestClient, mode: str) -> dict[str, Any]:
    response = client.get(URL, headers={"X-Expose-Secrets": mode})
    assert response.status_code == 200
    agent: dict[str, Any] = response.json()["agent_settings"]
    return agent


def plaintexts(client: TestClient) -> dict[tuple[str, ...], str]:
    """Every secret as the plaintext read shows it, keyed like secret_tokens."""
    return secret_tokens(read(client, "plaintext"))


def changed(before: dict[Any, str], after: dict[Any, str]) -> set[Any]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


def assert_no_canary_on_disk(home: Path) -> None:
    assert b"canary-" not in settings_bytes(home)
