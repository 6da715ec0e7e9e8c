"""Changes a stored document needs once, made at start under the store's lock.

Documents written before a URL's query string counted as a secret hold it in plaintext; the
first start seals each one as a Fernet token, so every secret is encrypted at rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agent_server.document import Document
from agent_server.errors import StoreUnavailable
from agent_server.secrets import Loc, SecretCipher, looks_like_token, map_agent_secrets
from agent_server.stores import Store

log = logging.getLogger(__name__)
_URL_SLOT_DEPTH = 4  # ("mcp_config", "mcpServers", name, "url")


def _any_query(document: Document) -> bool:
    """Whether any stored server URL has a query string (sealed or not), whatever the kind."""
    mcp = document["agent_settings"].get("mcp_config")
    servers = mcp.get("mcpServers") if isinstance(mcp, dict) else None
    if not isinstance(servers, Mapping):
        return False
    return any(
        isinstance(c, dict) and isinstance(c.get("url"), str) and "?" in c["url"]
        for c in servers.values()
    )


def seal_url_queries(store: Store, cipher: SecretCipher) -> int:
    """Encrypt every plaintext URL query of the stored servers; the count sealed."""
    sealed = 0

    def seal(loc: Loc, value: str) -> str:
        nonlocal sealed
        if len(loc) == _URL_SLOT_DEPTH and loc[-1] == "url" and not looks_like_token(value):
            sealed += 1
            return cipher.encrypt(value)
        return value

    def change(document: Document) -> Document:
        agent: dict[str, Any] = map_agent_secrets(document["agent_settings"], seal)
        return {**document, "agent_settings": agent} if sealed else document

    try:
        if not _any_query(store.read()):
            return 0  # the common case: a look at each URL, not a pass over every secret
        store.update(change)
    except StoreUnavailable:
        return 0  # served as 503 until the file is fixed; the store has logged why
    if sealed:
        log.warning("encrypted the query string of %d stored server URL(s)", sealed)
    return sealed
