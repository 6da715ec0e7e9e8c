"""MCP servers as named resources: user servers from the document, managed ones from the admin.

Knows where a server comes from, its summary and (through EntryCatalog) its ETag and views.
"""

from __future__ import annotations

from typing import Any

from agent_server.document import Document, agent_kind, mcp_servers, server_transport_kind
from agent_server.entries import EntryCatalog, Source, string_or_none
from agent_server.registries.browse import provenance
from sdk.models import MCPServerSummary

MANAGED = (
    "MCP server {name!r} is managed by the administrator's configuration and cannot be "
    "changed through the API"
)


class ServerCatalog(EntryCatalog):
    kind = "name"  # the ETag subject servers always had: {"name": ..., "config": ...}

    def all(self, document: Document) -> dict[str, tuple[Source, dict[str, Any]]]:
        """Every server by name; a managed server hides a user server of the same name."""
        if agent_kind(document["agent_settings"]) != "openhands":
            return {}
        found: dict[str, tuple[Source, dict[str, Any]]] = {
            name: ("user", config) for name, config in mcp_servers(document).items()
        }
        found.update((name, ("managed", config)) for name, config in self.managed.items())
        return found

    def find(self, document: Document, name: str) -> tuple[Source, dict[str, Any]] | None:
        if agent_kind(document["agent_settings"]) != "openhands":
            return None
        if name in self.managed:
            return "managed", self.managed[name]
        config = mcp_servers(document).get(name)
        return ("user", config) if config is not None else None

    def summary(self, name: str, source: Source, config: dict[str, Any]) -> dict[str, Any]:
        """The wire summary (an MCPServerSummary, dumped) of one server."""
        transport = config.get("transport", config.get("type"))
        return MCPServerSummary(
            name=name,
            source=source,
            transport_kind="stdio" if server_transport_kind(config) == "stdio" else "remote",
            transport=transport if isinstance(transport, str) else None,
            enabled=config.get("enabled", True) is not False,
            description=string_or_none(config.get("description")),
            icon=string_or_none(config.get("icon")),
            etag=self.etag(name, config),
            registry=provenance(config),
            update_available=None,  # filled in by the listing, from the registry's latest
        ).model_dump(mode="json")
