"""Windsurf: `~/.codeium/windsurf/mcp_config.json`, with `mcpServers`.

A remote server's URL is `serverUrl`; `disabled` turns a server off; `${env:NAME}` interpolates
in command, args, env, serverUrl, url and headers.
"""

from __future__ import annotations

import re
from typing import Any

from agent_server.formats.entries import Entries, disabled_out, enabled_in, server_map
from agent_server.formats.references import Syntax

NAME = "windsurf"
FILENAME = "mcp_config.json"
USUAL_PATHS = (".codeium/windsurf/mcp_config.json",)
SYNTAX = Syntax(re.compile(r"\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}"), "${env:NAME}")


def _read_entry(entry: dict[str, Any]) -> dict[str, Any]:
    config = enabled_in(entry)
    if "serverUrl" in config and "url" not in config:
        config["url"] = config.pop("serverUrl")
    return config


def _write_entry(config: dict[str, Any]) -> dict[str, Any]:
    entry = dict(disabled_out(config))
    if "url" in entry and "command" not in entry:
        entry["serverUrl"] = entry.pop("url")
    return entry


def read(content: Any) -> Entries:
    return [
        (name, _read_entry(entry) if isinstance(entry, dict) else entry)
        for name, entry in server_map(content, "mcpServers", NAME)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    return {"mcpServers": {name: _write_entry(config) for name, config in servers}}
