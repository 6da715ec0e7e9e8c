"""Cline: `cline_mcp_settings.json` in VS Code's global storage, with `mcpServers`.

Entries have `disabled`, `autoApprove` (kept as it is), `timeout` in seconds (ours are
milliseconds) and `type` (`stdio`, `sse`, `streamableHttp`), or the legacy `transportType`
(`stdio`, `sse`, `http`). An entry with a `url` and no type is SSE in Cline. Cline expands no
references: a secret that is not exported reads as the mask.
"""

from __future__ import annotations

from typing import Any

from agent_server.formats.entries import (
    Entries,
    disabled_out,
    enabled_in,
    is_remote,
    server_map,
    transport_in,
    transport_out,
)

NAME = "cline"
FILENAME = "cline_mcp_settings.json"
_STORAGE = "User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
USUAL_PATHS = (f"Library/Application Support/Code/{_STORAGE}", f".config/Code/{_STORAGE}")
SYNTAX = None
TYPES_IN = {"sse": "sse", "streamableHttp": "http"}
LEGACY_TYPES = {"sse": "sse", "http": "streamableHttp"}
TYPES_OUT = {"http": "streamableHttp", "streamable-http": "streamableHttp", "sse": "sse"}


def _read_entry(entry: dict[str, Any]) -> dict[str, Any]:
    config = enabled_in(entry)
    legacy = config.pop("transportType", None)
    if is_remote(config):
        client_type = config.get("type") or LEGACY_TYPES.get(legacy) or "sse"
        config = transport_in(config, TYPES_IN, client_type)
    elif legacy not in (None, "stdio"):
        config["transportType"] = legacy
    timeout = config.get("timeout")
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        config["timeout"] = round(timeout * 1000)
    return config


def _write_entry(config: dict[str, Any]) -> dict[str, Any]:
    entry = dict(transport_out(disabled_out(config), TYPES_OUT))
    timeout = entry.get("timeout")
    if isinstance(timeout, int) and not isinstance(timeout, bool):
        entry["timeout"] = timeout // 1000 if timeout % 1000 == 0 else timeout / 1000
    return entry


def read(content: Any) -> Entries:
    return [
        (name, _read_entry(entry) if isinstance(entry, dict) else entry)
        for name, entry in server_map(content, "mcpServers", NAME)
    ]


def write(servers: Entries, references: list[str]) -> Any:
    return {"mcpServers": {name: _write_entry(config) for name, config in servers}}
