"""How a document splits into rows: one per MCP server, one per registry, and the rest.

The rest keeps an empty object where the servers and the registries stood, so joining puts them
back in the same place and the document reads back exactly as it was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from agent_server.document import Document

Kind = Literal["server", "registry"]
KINDS: tuple[Kind, ...] = ("server", "registry")


def servers_of(document: Document) -> dict[str, Any] | None:
    """The stored MCP servers (whatever the agent kind), or None where the path is absent."""
    agent = document.get("agent_settings")
    mcp = agent.get("mcp_config") if isinstance(agent, dict) else None
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    return servers if isinstance(servers, Mapping) else None  # type: ignore[return-value]


def registries_of(document: Document) -> dict[str, Any] | None:
    found = document.get("mcp_registries")
    return found if isinstance(found, dict) else None


def entries_of(document: Document, kind: Kind) -> dict[str, Any]:
    found = servers_of(document) if kind == "server" else registries_of(document)
    return found if found is not None else {}


def rest_of(document: Document) -> Document:
    """The document with an empty object in place of its servers and its registries."""
    rest = dict(document)
    if registries_of(document) is not None:
        rest["mcp_registries"] = {}
    if servers_of(document) is not None:
        agent = document["agent_settings"]
        mcp = agent["mcp_config"]
        rest["agent_settings"] = {**agent, "mcp_config": {**mcp, "mcpServers": {}}}
    return rest


def join(rest: Document, entries: dict[Kind, dict[str, Any]]) -> Document:
    """The document `rest_of` split, with the entries back in place."""
    document = dict(rest)
    if registries_of(rest) is not None:
        document["mcp_registries"] = entries["registry"]
    if servers_of(rest) is not None:
        agent = rest["agent_settings"]
        mcp = agent["mcp_config"]
        document["agent_settings"] = {
            **agent,
            "mcp_config": {**mcp, "mcpServers": entries["server"]},
        }
    return document
