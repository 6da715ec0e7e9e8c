"""Exporting servers as a client's config file, and the one entry that points a client here.

Secrets that are not shown become references in the client's own syntax (`${env:NAME}` for
Cursor, an `inputs` entry for VS Code, ...), so the file works once the user provides them the
client's way; a client with no syntax gets the mask to replace. A managed server's secrets are
never shown, whatever the mode.
"""

from __future__ import annotations

from typing import Any

import orjson

from agent_server.formats import ClientFormat
from agent_server.formats.references import export_name
from agent_server.secrets import Loc, SecretCipher, map_server_secrets
from agent_server.servers import Source
from sdk.models import MASK

GATEWAY_ENTRY = "agent-server"
GATEWAY_KEY_REFERENCE = "AGENT_SERVER_API_KEY"
SESSION_KEY_HEADER = "X-Session-API-Key"


class ExportedFile:
    """The servers as one client's file: its bytes, once `add` has taken every server."""

    def __init__(self, client: ClientFormat, cipher: SecretCipher, plaintext: bool) -> None:
        self.client = client
        self.cipher = cipher
        self.plaintext = plaintext
        self.entries: list[tuple[str, Any]] = []
        self.references: list[str] = []
        self._taken: set[str] = set()

    def reference(self, name: str) -> str:
        """The client's reference to a value named `name` (the mask where it has none)."""
        if self.client.syntax is None:
            return MASK
        self.references.append(name)
        return self.client.syntax.write(name)

    def add(self, name: str, source: Source, config: dict[str, Any]) -> None:
        def shown(loc: Loc, token: str) -> str:
            if self.plaintext and source == "user":
                return self.cipher.decrypt(token)
            return self.reference(export_name(name, loc, self._taken))

        self.entries.append((name, map_server_secrets(config, shown)))

    def add_gateway(self, url: str) -> None:
        """One entry for this service's MCP endpoint; the session key only as a reference."""
        key = self.reference(GATEWAY_KEY_REFERENCE)
        config = {"url": url, "transport": "http", "headers": {SESSION_KEY_HEADER: key}}
        self.entries.append((GATEWAY_ENTRY, config))

    def content(self) -> bytes:
        written = self.client.write(self.entries, self.references)
        if isinstance(written, str):
            return written.encode()
        return orjson.dumps(written, option=orjson.OPT_INDENT_2) + b"\n"
