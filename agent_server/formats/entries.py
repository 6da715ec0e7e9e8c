"""What the client formats share: reading a map of servers, and the transport and enabled fields.

Fields a client shares with us (command, args, env, url, headers, cwd, and our own fields such as
description or enabled) pass through both ways untouched, and so does every field nobody maps,
so an export imported back gives the same config. Only the fields that differ are mapped here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Entries = list[tuple[str, Any]]
"""Servers in file order: (name, entry); an entry that is not an object is passed on as it is."""


class FormatError(ValueError):
    """The content is not a file of the format it was read as; the message says what is wrong."""


def server_map(content: Any, key: str, client: str) -> Entries:
    """The (name, entry) pairs of `content[key]`, a JSON object of servers."""
    if not isinstance(content, dict):
        raise FormatError(f"a {client} config is a JSON object with {key!r}")
    servers = content.get(key, {})
    if not isinstance(servers, dict):
        raise FormatError(f"{key!r} of a {client} config must be an object of servers by name")
    return list(servers.items())


def is_remote(entry: Mapping[str, Any]) -> bool:
    return "command" not in entry and "url" in entry


def inferred_transport(url: Any) -> str | None:
    """The transport fastmcp picks for a URL when none is given: sse for .../sse, else http."""
    if not isinstance(url, str):
        return None
    try:
        from fastmcp.mcp_config import infer_transport_type_from_url  # slow to import

        return infer_transport_type_from_url(url)
    except ValueError:
        return None


def transport_in(
    config: dict[str, Any], types: Mapping[str, str], client_type: Any = None
) -> dict[str, Any]:
    """A remote entry's client `type` as our `transport`, stored only where it differs from what
    fastmcp would infer (so an export, which always names a type, reads back unchanged). An
    entry that also carries our own `transport` keeps it; an unknown type is kept as `type`."""
    if not is_remote(config):
        return config
    out = dict(config)
    if client_type is None:
        client_type = out.pop("type", None)
    else:
        out.pop("type", None)
    if client_type is None or "transport" in out:
        return out
    ours = types.get(client_type) if isinstance(client_type, str) else None
    if ours is None:
        out["type"] = client_type
    elif ours != inferred_transport(out.get("url")):
        out["transport"] = ours
    return out


def transport_out(config: dict[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """A remote config with the client's `type` set (our `transport` itself is kept as is)."""
    if not is_remote(config):
        return config
    transport = config.get("transport") or inferred_transport(config.get("url"))
    client_type = types.get(transport) if isinstance(transport, str) else None
    return {**config, "type": client_type} if client_type else config


def enabled_in(entry: dict[str, Any]) -> dict[str, Any]:
    """`disabled: true` → `enabled: false` (and `false` → `true`); our own `enabled` wins."""
    if not isinstance(entry.get("disabled"), bool):
        return entry
    out = dict(entry)
    disabled = out.pop("disabled")
    out.setdefault("enabled", not disabled)
    return out


def disabled_out(config: dict[str, Any]) -> dict[str, Any]:
    """Our `enabled` as the client's `disabled`, for clients that have one."""
    if not isinstance(config.get("enabled"), bool):
        return config
    out = dict(config)
    out["disabled"] = not out.pop("enabled")
    return out
