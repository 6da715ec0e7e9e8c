"""MCP servers as named resources: user servers from the document, managed ones from the admin.

Knows where a server comes from, how it reads in each expose mode, its summary and its ETag.
ETags and summaries are remembered by name, with the stored config object they were made from:
the store shares unchanged servers between versions, so after a write only the changed server
is hashed and summarized again, and the entry of the config a write replaced is dropped with it.
"""

from __future__ import annotations

from typing import Any, Literal

from agent_server.document import Document, agent_kind, mcp_servers, server_transport_kind
from agent_server.preconditions import ETagSigner
from agent_server.secrets import SecretCipher, map_server_secrets, view_fn
from sdk.models import ExposeMode, MCPServerSummary

Source = Literal["user", "managed"]
MANAGED = (
    "MCP server {name!r} is managed by the administrator's configuration and cannot be "
    "changed through the API"
)
_CACHE_LIMIT = 100_000


class ServerCatalog:
    def __init__(
        self, signer: ETagSigner, cipher: SecretCipher, managed: dict[str, dict[str, Any]]
    ) -> None:
        self.signer = signer
        self.cipher = cipher
        self.managed = managed
        self._etags: dict[str, tuple[dict[str, Any], str]] = {}
        self._summaries: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}

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

    def etag(self, name: str, config: dict[str, Any]) -> str:
        """The keyed hash of the name and the plaintext config.

        The name is part of it: otherwise writing a guess under one's own name would tell,
        by comparing ETags, whether another server's secret equals the guess.
        """
        cached = self._etags.get(name)
        if cached is not None and cached[0] is config:
            return cached[1]
        etag = self.signer.etag({"name": name, "config": self.view(config, "plaintext")})
        if len(self._etags) >= _CACHE_LIMIT:
            self._etags.clear()
        self._etags[name] = (config, etag)
        return etag

    def forget(self, name: str) -> None:
        """Drop what is remembered of a server that was deleted."""
        self._etags.pop(name, None)
        self._summaries.pop((name, "user"), None)

    def view(self, config: dict[str, Any], mode: ExposeMode) -> dict[str, Any]:
        return map_server_secrets(config, view_fn(mode, self.cipher))

    def summary(self, name: str, source: Source, config: dict[str, Any]) -> dict[str, Any]:
        """The wire summary (an MCPServerSummary, dumped) of one server."""
        key = (name, source)
        cached = self._summaries.get(key)
        if cached is not None and cached[0] is config:
            return cached[1]
        if len(self._summaries) >= _CACHE_LIMIT:
            self._summaries.clear()
        summary = self._summarize(name, source, config).model_dump(mode="json")
        self._summaries[key] = (config, summary)
        return summary

    def _summarize(self, name: str, source: Source, config: dict[str, Any]) -> MCPServerSummary:
        transport = config.get("transport", config.get("type"))
        return MCPServerSummary(
            name=name,
            source=source,
            transport_kind="stdio" if server_transport_kind(config) == "stdio" else "remote",
            transport=transport if isinstance(transport, str) else None,
            enabled=config.get("enabled", True) is not False,
            description=_string_or_none(config.get("description")),
            icon=_string_or_none(config.get("icon")),
            etag=self.etag(name, config),
        )


def _string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
