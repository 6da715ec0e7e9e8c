"""Claude Code: a project's `.mcp.json`, or the user's `~/.claude.json`, both with `mcpServers`.

Entries have `type` (`stdio`, `http`, `sse`), and `${VAR}` / `${VAR:-default}` expand in command,
args, env, url and headers. Only the top-level `mcpServers` of `~/.claude.json` (the user scope)
is read; its per-project entries belong to those projects.
"""

from __future__ import annotations

import re
from typing import Any

from agent_server.formats.entries import Entries, server_map, transport_in, transport_out
from agent_server.formats.references import Syntax

NAME = "claude-code"
FILENAME = ".mcp.json"
USUAL_PATHS = (".claude.json",)
SYNTAX = Syntax(
    re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"), "${NAME}"
)
TYPES_IN = {"http": "http", "sse": "sse"}
TYPES_OUT = {"http": "http", "streamable-http": "http", "sse": "sse"}


def read(content: Any) -> Entries:
    return [
        (name, transport_in(entry, TYPES_IN) if isinstance(entry, dict) else entry)
        for name, entry in server_map(content, "mcpServers", NAME)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    return {"mcpServers": {name: transport_out(config, TYPES_OUT) for name, config in servers}}
