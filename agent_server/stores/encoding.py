"""settings.json's bytes, made from the previous write's: only the servers a write changed are
encoded again.

Encoding the whole document was most of a write's own cost at ten thousand servers, and more
than twice that once the document had been built through the API: its objects then lie
scattered in memory, and walking them all for each write missed the CPU caches at every step.
Each server's `"name":{...}` bytes are kept with the config object they were made from (the
store shares unchanged configs between versions), so a write encodes the servers it changed and
the small rest of the document, and joins the kept parts. The result is byte for byte what
encoding the whole document gives; anything unusual (few servers, a marker clash) encodes the
whole document instead.
"""

from __future__ import annotations

from typing import Any

from agent_server.document import Document
from agent_server.json_codec import dumps

MIN_SERVERS = 64  # below this, encoding the whole document is as cheap
_MARK = "\x00agent-server-servers\x00"  # stands in for the servers while the rest is encoded
_MARK_BYTES = dumps(_MARK)


class DocumentEncoder:
    """One per store; used under the store's write lock only."""

    def __init__(self) -> None:
        self._servers: dict[str, Any] | None = None  # the servers the parts were made from
        self._parts: dict[str, bytes] = {}

    def encode(self, document: Document) -> bytes:
        servers = _servers_of(document)
        if servers is None or len(servers) < MIN_SERVERS:
            self._servers = None
            return dumps(document)
        shell = _with_servers(document, _MARK)
        head, found, tail = dumps(shell).partition(_MARK_BYTES)
        if not found or _MARK_BYTES in tail:
            self._servers = None
            return dumps(document)
        parts = self._parts_for(servers)
        return b"".join((head, b"{", b",".join(parts.values()), b"}", tail))

    def _parts_for(self, servers: dict[str, Any]) -> dict[str, bytes]:
        """Parts in the servers' order: every write keeps a server where it was, adds new ones
        at the end and drops removed ones, and the parts do the same."""
        before = self._servers
        if before is None:
            parts = {name: _part(name, config) for name, config in servers.items()}
        else:
            parts = self._parts
            for name, config in servers.items():
                if before.get(name) is not config:
                    parts[name] = _part(name, config)
            if len(parts) != len(servers):  # servers were removed
                for name in [name for name in parts if name not in servers]:
                    del parts[name]
        self._servers = servers
        self._parts = parts
        return parts


def _part(name: str, config: Any) -> bytes:
    return dumps(name) + b":" + dumps(config)


def _servers_of(document: Document) -> dict[str, Any] | None:
    agent = document.get("agent_settings")
    mcp = agent.get("mcp_config") if isinstance(agent, dict) else None
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    return servers if isinstance(servers, dict) else None


def _with_servers(document: Document, servers: Any) -> Document:
    agent = document["agent_settings"]
    mcp = agent["mcp_config"]
    return {**document, "agent_settings": {**agent, "mcp_config": {**mcp, "mcpServers": servers}}}
