"""VS Code: `.vscode/mcp.json` or the user profile's `mcp.json`, with `servers` and `inputs`.

Entries have `type` (`stdio`, `http`, `sse`) and may name an `envFile`, which is kept as written
but not read: the file is on the user's machine, so its variables are given as values. Secrets
are `inputs` (`{"type": "promptString", "id", "description", "password": true}`) referenced as
`${input:id}`; `${env:NAME}`, `${userHome}` and `${workspaceFolder}` are references too.
"""

from __future__ import annotations

import re
from typing import Any

from agent_server.formats.cursor import BUILTINS
from agent_server.formats.entries import (
    Entries,
    FormatError,
    server_map,
    transport_in,
    transport_out,
)
from agent_server.formats.references import Syntax

NAME = "vscode"
FILENAME = "mcp.json"
USUAL_PATHS = ("Library/Application Support/Code/User/mcp.json", ".config/Code/User/mcp.json")
SYNTAX = Syntax(
    re.compile(
        r"\$\{(?:input:(?P<name>[A-Za-z0-9_.-]+)|env:(?P<env>[A-Za-z_][A-Za-z0-9_]*)"
        r"|(?P<builtin>" + BUILTINS + r"))\}"
    ),
    "${input:NAME}",
)
TYPES_IN = {"http": "http", "sse": "sse"}
TYPES_OUT = {"http": "http", "streamable-http": "http", "sse": "sse"}


def read(content: Any) -> Entries:
    if isinstance(content, dict) and not isinstance(content.get("inputs", []), list):
        raise FormatError("'inputs' of a vscode config must be a list")
    return [
        (name, transport_in(entry, TYPES_IN) if isinstance(entry, dict) else entry)
        for name, entry in server_map(content, "servers", NAME)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    inputs = [
        {"type": "promptString", "id": name, "description": f"{name} (secret)", "password": True}
        for name in references
    ]
    return {
        "inputs": inputs,
        "servers": {name: transport_out(config, TYPES_OUT) for name, config in servers},
    }
