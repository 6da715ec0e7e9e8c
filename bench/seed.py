"""The benchmark documents: N stdio MCP servers, each with 3 Fernet-encrypted env secrets (and,
for the tool catalog, N remote servers that all answer from one canned MCP endpoint).

settings.json is written directly (encrypted here with the bench's fixed key, in the shape and
bytes the server itself writes) before the server starts: seeding 10,000 servers through the API
would take 1 MiB bodies and most of a minute, and would measure nothing the bench reports.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

# A fixed, valid Fernet key (urlsafe base64 of 32 bytes), so every run stores the same kind of
# tokens; it protects nothing.
SECRET_KEY = "YWdlbnQtc2VydmVyLWJlbmNoLWZpeGVkLWtleS12MSE="
# The session key every bench client sends (the bare floor ignores it): a server is measured
# as a user runs it, with its key check on.
SESSION_KEY = "bench-session-key-9f2c41d7e85a"
SESSION_HEADERS = {"X-Session-API-Key": SESSION_KEY}
ENV_KEYS = ("A", "B", "C")


def server_name(index: int) -> str:
    """Every name has the same length, so every GET-one response has the same size."""
    return f"srv{index:05d}"


def seed_value(index: int, key: str) -> str:
    return f"seed-{key}-{index:05d}-{'x' * 24}"


def server_config(index: int, env: dict[str, str]) -> dict[str, Any]:
    """A plaintext server config as a client sends it (PUT body)."""
    return {
        "command": "npx",
        "args": ["-y", "@modelcontextprotocol/server-filesystem", f"/srv/data/{index:05d}"],
        "env": env,
        "description": f"benchmark server {index}",
    }


def seed_env(index: int) -> dict[str, str]:
    return {key: seed_value(index, key) for key in ENV_KEYS}


def build_document(size: int) -> dict[str, Any]:
    fernet = Fernet(SECRET_KEY)
    servers = {}
    for i in range(size):
        env = {key: fernet.encrypt(value.encode()).decode() for key, value in seed_env(i).items()}
        servers[server_name(i)] = server_config(i, env)
    return {
        "schema_version": 1,
        "agent_settings": {
            "agent_kind": "openhands",
            "llm": {"model": None, "api_key": None, "base_url": None},
            "mcp_config": {"mcpServers": servers},
        },
        "misc_settings": {},
    }


def remote_document(size: int, url: str) -> dict[str, Any]:
    """`size` remote servers, all at `url` (bench/canned_mcp.py), for the tool catalog."""
    servers = {server_name(i): {"url": url, "transport": "http"} for i in range(size)}
    return {
        "schema_version": 1,
        "agent_settings": {"agent_kind": "openhands", "mcp_config": {"mcpServers": servers}},
        "misc_settings": {},
    }


def write_settings(home: Path, size: int, document: dict[str, Any] | None = None) -> Path:
    """A home folder (0700) holding settings.json (0600) with `size` servers (or `document`);
    its path."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "settings.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(build_document(size) if document is None else document))
        f.flush()
        os.fsync(f.fileno())
    return path
