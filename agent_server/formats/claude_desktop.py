"""Claude Desktop: `claude_desktop_config.json`, `{"mcpServers": {name: {command, args, env}}}`.

Claude Desktop expands no references, so a secret that is not exported reads as the mask, which
the user replaces with the value (the CLI lists those fields).
"""

from __future__ import annotations

from typing import Any

from agent_server.formats.entries import Entries, server_map

NAME = "claude-desktop"
FILENAME = "claude_desktop_config.json"
USUAL_PATHS = (
    "Library/Application Support/Claude/claude_desktop_config.json",
    ".config/Claude/claude_desktop_config.json",
)
SYNTAX = None


def read(content: Any) -> Entries:
    return server_map(content, "mcpServers", NAME)


def write(servers: Entries, references: list[str]) -> Any:
    return {"mcpServers": dict(servers)}
