"""Connector ids: every enabled server here (its id is its name) and every remote-capable server
of each enabled registry (`mcp::<registry id>::<server name>`), listed page by page.

A listing cursor is opaque to clients: base64url JSON naming the phase (the servers here, or
one registry by id) and the position within it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from agent_server.document import server_transport_kind
from agent_server.entries import Source, string_or_none
from agent_server.registries.browse import Installed, connector_id
from agent_server.registries.plans import Inputs
from agent_server.registries.schema import RegistryEntry, is_registry_server_name
from sdk.models import Connector, is_valid_registry_id, is_valid_server_name

LOCAL = ""  # the phase of the servers stored or managed here
_PREFIX = "mcp::"


@dataclass(frozen=True)
class Position:
    phase: str  # LOCAL, or a registry id
    at: str | int | None  # an offset among the servers here, or a registry's cursor


def encode_cursor(position: Position) -> str:
    raw = json.dumps({"p": position.phase, "a": position.at}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position | None:
    """The position a cursor names, or None when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("p"), str):
        return None
    at = raw.get("a")
    if raw["p"] == LOCAL and isinstance(at, int) and at >= 0:
        return Position(LOCAL, at)
    if is_valid_registry_id(raw["p"]) and (at is None or isinstance(at, str)):
        return Position(raw["p"], at)
    return None


def parse_connector_id(value: str) -> tuple[str, str] | str | None:
    """(registry id, server name) for a registry connector, a server name for one here, or
    None when it is neither. Every id that starts with `mcp::` is a registry's."""
    if value.startswith(_PREFIX):
        rid, sep, server = value[len(_PREFIX) :].partition("::")
        if sep and is_valid_registry_id(rid) and is_registry_server_name(server):
            return rid, server
        return None
    return value if is_valid_server_name(value) else None


def local_connector(name: str, source: Source, view: dict[str, Any]) -> Connector:
    """The connector of a server here; `view` is its redacted config (a URL's query masked)."""
    stdio = server_transport_kind(view) == "stdio"
    transport = view.get("transport", view.get("type"))
    return Connector(
        id=name,
        source=source,
        url=None if stdio else string_or_none(view.get("url")),
        transport="stdio" if stdio else (string_or_none(transport) or "http"),
        title=None,
        description=string_or_none(view.get("description")),
        installed_as=None,
    )


def registry_connector(rid: str, entry: RegistryEntry, installed: Installed) -> Connector | None:
    """The connector of a registry's server that has a remote; None for one that has not.

    Its URL is the first remote's, with each {variable} that has a default filled.
    A required one without a default stays `{name}`.
    """
    server = entry.server
    if not server.remotes:
        return None
    remote = server.remotes[0]
    url = (
        Inputs(given={}).fill(remote.url, remote.variables, "url")
        if remote.variables
        else remote.url
    )
    return Connector(
        id=connector_id(rid, server.name),
        source="registry",
        url=url,
        transport="http" if remote.type == "streamable-http" else remote.type,
        title=server.title,
        description=server.description or None,
        installed_as=installed.get((rid, server.name)),
    )
