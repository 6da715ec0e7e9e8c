"""Which of a server's tools are served: fastmcp's MCPConfig fields in the server's config.

`tools: {"<tool>": {"enabled": false}}` leaves one tool out; `include_tags` serves only tools
with one of those tags, `exclude_tags` leaves out tools with one of them. A tool's tags are the
ones its fastmcp server gives it (in its `_meta`, read by probes.connection.tool_tags).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agent_server.gateway.pins import PinStore, definition_hash
from agent_server.probes.connection import tool_tags
from sdk.models import MCPProbeFailed, MCPToolsResult


def tool_enabled(config: Mapping[str, Any], name: str, tags: Iterable[str]) -> bool:
    setting = (config.get("tools") or {}).get(name)
    if isinstance(setting, Mapping) and setting.get("enabled") is False:
        return False
    found = set(tags)
    include = config.get("include_tags")
    if include is not None and not found & set(include):
        return False
    return not found & set(config.get("exclude_tags") or ())


def changed_tools(pins: PinStore, tools: Mapping[str, Iterable[Any]]) -> dict[str, set[str]]:
    """Per server, its tools (mcp's or MCPTool) whose definition differs from their pin."""
    return pins.changed(
        {
            server: {t.name: definition_hash(t.name, t.description, t.input_schema) for t in found}
            for server, found in tools.items()
        }
    )


def served_tools(config: Mapping[str, Any], tools: list[Any], changed: set[str]) -> list[Any]:
    """The mcp tools the gateway serves: enabled ones, and with `pin_tools` unchanged ones
    (`changed`: the tools whose definition differs from their pin)."""
    withheld = changed if config.get("pin_tools") is True else set()
    return [
        t
        for t in tools
        if t.name not in withheld and tool_enabled(config, t.name, tool_tags(t.meta))
    ]


def marked(config: Mapping[str, Any], result: MCPToolsResult, changed: set[str]) -> MCPToolsResult:
    """A tools answer with each tool's `enabled` and `changed` (one of `changed`) filled in."""
    if isinstance(result, MCPProbeFailed):
        return result
    tools = [
        t.model_copy(
            update={"enabled": tool_enabled(config, t.name, t.tags), "changed": t.name in changed}
        )
        for t in result.tools
    ]
    return result.model_copy(update={"tools": tools})
