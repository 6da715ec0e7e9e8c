"""What the command-line suites share: secrets in every kind of slot, and helpers that read
them back from a server and from settings.json."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from support import (
    ServerProcess,
    read_settings,
    secret_tokens,
)

PLAINTEXT = {"X-Expose-Secrets": "plaintext"}

# One value in every kind of secret slot: the LLM key, a stdio env value, a header, a bearer auth.
SECRETS_PATCH: dict[str, Any] = {
    "agent_settings_diff": {
        "llm": {"model": "gpt-test", "api_key": "sk-llm-plain-1"},
        "mcp_config": {
            "mcpServers": {
                "files": {"command": "npx", "args": ["files"], "env": {"TOKEN": "env-plain-2"}},
                "remote": {
                    "url": "https://mcp.example.com/mcp",
                    "headers": {"X-Api-Key": "header-plain-3"},
                },
                "bearer": {"url": "https://bearer.example.com/mcp", "auth": "auth-plain-4"},
            }
        },
    }
}
SECRETS = {
    ("llm", "api_key"): "sk-llm-plain-1",
    ("files", "env", "TOKEN"): "env-plain-2",
    ("remote", "headers", "X-Api-Key"): "header-plain-3",
    ("bearer", "auth"): "auth-plain-4",
}


# --- helpers -------------------------------------------------------------------------------------


def write_secrets(http: httpx.Client) -> None:
    response = http.patch("/api/settings", json=SECRETS_PATCH)
    assert response.status_code == 200, response.text


def served_plaintexts(http: httpx.Client) -> dict[tuple[str, ...], str]:
    response = http.get("/api/settings", headers=PLAINTEXT)
    assert response.status_code == 200, response.text
    return secret_tokens(response.json()["agent_settings"])


def server_plaintexts(server: ServerProcess) -> dict[tuple[str, ...], str]:
    with server.client(timeout=10) as http:
        return served_plaintexts(http)


def stored_tokens(home: Path) -> dict[tuple[str, ...], str]:
    return secret_tokens(read_settings(home)["agent_settings"])


def decrypt_all(key: str, tokens: dict[tuple[str, ...], str]) -> dict[tuple[str, ...], str]:
    fernet = Fernet(key)
    return {loc: fernet.decrypt(token.encode()).decode() for loc, token in tokens.items()}


def assert_no_token_opens(key: str, tokens: dict[tuple[str, ...], str]) -> None:
    fernet = Fernet(key)
    for token in tokens.values():
        with pytest.raises(InvalidToken):
            fernet.decrypt(token.encode())


def printed_env(stdout: str) -> dict[str, str]:
    """The NAME=value lines a command printed (each name at most once)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name.startswith("AGENT_SERVER_"):
            assert name not in found, f"{name} printed twice:\n{stdout}"
            found[name] = value
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def temp_files(home: Path) -> list[str]:
    return sorted(name for name in os.listdir(home) if name.endswith(".tmp"))
