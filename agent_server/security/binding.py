"""Where a secret is meant to go: a stored secret is kept only while its destination stays.

Keeping a stored secret (the mask, an untouched slot, or its own token sent back) is what lets
a client that never saw the secret edit the rest of a server. Without this rule the same client
could point the server somewhere else and have the secret sent there: changing the destination
means giving every secret again.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_destination(url: Any) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, the port defaulted by scheme; None when it has none."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.partition("?")[0])
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def server_destination(server: Any) -> Any:
    """What a server's secrets are sent to: its URL's origin, or its command, args and cwd."""
    if not isinstance(server, dict):
        return None
    if "command" not in server and "url" in server:
        return ("remote", url_destination(server["url"]))
    frozen_args = json.dumps(server.get("args"), sort_keys=True)
    return ("stdio", server.get("command"), frozen_args, server.get("cwd"))


def llm_destination(llm: Any) -> Any:
    """The LLM key goes to `base_url` (or the provider's default when there is none)."""
    return url_destination(llm.get("base_url")) if isinstance(llm, dict) else None
