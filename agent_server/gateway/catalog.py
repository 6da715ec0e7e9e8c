"""The tool catalog's body: every enabled server's served tools under their gateway names, and
each server's state.

It is made again whenever the document, a known tool list or the pins change. Made through the
wire models it took about a second at 10,000 servers, after any write. So each server's part is
kept while its tools answer and its config are the same objects and its pins are equal, and is
made again only for the servers that changed; what spans servers (the gateway names, the pins of
tools first seen) is worked out over all of them each time. The body has the wire shape of
MCPCatalogResponse, field for field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_server.gateway.names import gateway_names
from agent_server.gateway.pins import PinStore
from agent_server.gateway.tool_rules import changed_tools, tool_enabled
from agent_server.stored_servers import same_config
from sdk.models import MCPProbeFailed, MCPToolsOk, MCPToolsResult

# (tool, description, input schema, changed) of each served tool
_Row = tuple[str, str | None, dict[str, Any], bool]
Listed = Mapping[str, tuple[Mapping[str, Any], MCPToolsResult]]  # name -> (config, tools answer)


@dataclass(frozen=True)
class _Part:
    result: MCPToolsResult  # what it was made from, compared by identity...
    config: Mapping[str, Any]
    pinned: Mapping[str, str]  # ...and by equality
    rows: list[_Row]
    server: dict[str, Any]  # its MCPCatalogServer, dumped


class CatalogBuilder:
    """Makes the catalog body, keeping each server's part for the next one."""

    def __init__(self, pins: PinStore) -> None:
        self._pins = pins
        self._parts: dict[str, _Part] = {}

    def build(self, servers: Listed) -> dict[str, Any]:
        """The body for these servers (name -> their stored config and tools answer), in order."""
        pins = self._pins.read()
        kept = {
            name: part
            for name, (config, result) in servers.items()
            if (part := self._parts.get(name)) is not None
            and part.result is result
            and same_config(part.config, config)
            and part.pinned == pins.get(name, {})
        }
        listed = {
            name: result.tools
            for name, (_, result) in servers.items()
            if name not in kept and isinstance(result, MCPToolsOk)
        }
        changed = changed_tools(self._pins, listed)  # tools first seen: pinned, in one write
        pins = self._pins.read()
        parts = {
            name: kept.get(name)
            or _part(name, config, result, pins.get(name, {}), changed.get(name, set()))
            for name, (config, result) in servers.items()
        }
        self._parts = parts
        names = gateway_names((name, row[0]) for name, part in parts.items() for row in part.rows)
        tools = [
            {
                "name": f"{name}.{tool}",
                "gateway_name": names[(name, tool)],
                "server": name,
                "tool": tool,
                "description": description,
                "input_schema": schema,
                "changed": is_changed,
            }
            for name, part in parts.items()
            for tool, description, schema, is_changed in part.rows
        ]
        return {"tools": tools, "servers": [part.server for part in parts.values()]}


def _part(
    name: str,
    config: Mapping[str, Any],
    result: MCPToolsResult,
    pinned: Mapping[str, str],
    changed: set[str],
) -> _Part:
    if isinstance(result, MCPProbeFailed):
        return _Part(result, config, pinned, [], _server(name, result, 0, None))
    rows = [
        (tool.name, tool.description, tool.input_schema, tool.name in changed)
        for tool in result.tools
        if tool_enabled(config, tool.name, tool.tags)
    ]
    server = _server(name, result, len(rows), result.latency_ms)
    return _Part(result, config, pinned, rows, server)


def _server(
    name: str, result: MCPToolsResult, count: int, latency_ms: float | None
) -> dict[str, Any]:
    failed = result if isinstance(result, MCPProbeFailed) else None
    return {
        "name": name,
        "ok": result.ok,
        "tool_count": count,
        "latency_ms": latency_ms,
        "error": failed.error if failed else None,
        "error_kind": failed.error_kind if failed else None,
    }
