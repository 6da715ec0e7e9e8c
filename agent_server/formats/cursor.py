"""Cursor: `~/.cursor/mcp.json` or a project's `.cursor/mcp.json`, with `mcpServers`.

Cursor interpolates `${env:NAME}`, `${userHome}`, `${workspaceFolder}`,
`${workspaceFolderBasename}` and `${pathSeparator}` (`${/}`); each is a reference whose value
the import asks for. Cursor infers the transport from the entry, so none is written.
"""

from __future__ import annotations

import re
from typing import Any

from agent_server.formats.entries import Entries, server_map, transport_in
from agent_server.formats.references import Syntax

NAME = "cursor"
FILENAME = "mcp.json"
USUAL_PATHS = (".cursor/mcp.json",)
BUILTINS = r"userHome|workspaceFolder|workspaceFolderBasename|pathSeparator|/"
SYNTAX = Syntax(
    re.compile(r"\$\{(?:env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<builtin>" + BUILTINS + r"))\}"),
    "${env:NAME}",
)
TYPES_IN = {"http": "http", "streamable-http": "http", "sse": "sse"}


def read(content: Any) -> Entries:
    return [
        (name, transport_in(entry, TYPES_IN) if isinstance(entry, dict) else entry)
        for name, entry in server_map(content, "mcpServers", NAME)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    return {"mcpServers": dict(servers)}
