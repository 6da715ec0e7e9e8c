"""What a registry's answers become here: listing pages, server details, provenance.

Each entry is validated (registries.schema) before use. In a listing, an entry that does not
follow the schema, or whose status is not active, is left out; a single server that does not
follow it is a 502, since nothing can be shown or installed from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from weakref import ref

from agent_server.registries.client import RegistryFailed
from agent_server.registries.plans import plans
from agent_server.registries.schema import RegistryEntry, parse_entry
from agent_server.stored_servers import StoredServers
from sdk.models import RegistryServerDetail, RegistryServerSummary, RegistrySource

log = logging.getLogger(__name__)
Installed = dict[tuple[str, str], str]


def connector_id(registry_id: str, server: str) -> str:
    return f"mcp::{registry_id}::{server}"


def provenance(config: Any) -> RegistrySource | None:
    """The `registry` an installed server's config records, when it has a valid one."""
    found = config.get("registry") if isinstance(config, dict) else None
    if not isinstance(found, dict):
        return None
    fields = {key: found.get(key) for key in ("id", "server", "version")}
    if not all(isinstance(value, str) for value in fields.values()):
        return None
    return RegistrySource(**fields)


def installed_servers(servers: Mapping[str, Any]) -> Installed:
    """(registry id, server name) -> the name of a user server installed from it.

    Servers a store reads from its encoding are parsed to find out: the answer for the last
    such version is kept (while that version lives), so browsing a registry does not parse
    every server on every page.
    """
    global _last
    if not isinstance(servers, StoredServers):
        return _installed(servers)
    if _last is not None and _last[0]() is servers:
        return _last[1]
    found = _installed(servers)
    _last = (ref(servers), found)
    return found


_last: tuple[ref[StoredServers], Installed] | None = None


def _installed(servers: Mapping[str, Any]) -> Installed:
    found: Installed = {}
    for name in sorted(servers, reverse=True):  # the first name wins
        source = provenance(servers[name])
        if source is not None:
            found[(source.id, source.server)] = name
    return found


def next_cursor(data: dict[str, Any]) -> str | None:
    """The next page's cursor: `metadata.nextCursor` (the API), or `next_cursor` anywhere."""
    for holder in (data.get("metadata"), data):
        if isinstance(holder, dict):
            for key in ("nextCursor", "next_cursor"):
                if isinstance(holder.get(key), str) and holder[key]:
                    return str(holder[key])
    return None


def listing_entries(registry_id: str, data: Any) -> tuple[list[RegistryEntry], str | None]:
    """The active, valid entries of one listing page, and the next page's cursor."""
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
        raise RegistryFailed(
            502, f"registry {registry_id!r} answered something that is not a server list"
        )
    entries = []
    for item in data["servers"]:
        try:
            entry = parse_entry(item)
        except ValueError as exc:
            log.warning("registry %r: an entry was left out: %s", registry_id, exc)
            continue
        if entry.status == "active":
            entries.append(entry)
    return entries, next_cursor(data)


def listing_page(
    registry_id: str, data: Any
) -> tuple[list[RegistryEntry], list[dict[str, Any]], str | None]:
    """A listing page's entries, their wire summaries (with installed_as null) and the next
    cursor: what a cached page is turned into once (RegistryReader.derived)."""
    entries, cursor = listing_entries(registry_id, data)
    summaries = [summary(registry_id, entry, {}).model_dump() for entry in entries]
    return entries, summaries, cursor


def one_entry(registry_id: str, data: Any) -> RegistryEntry:
    try:
        return parse_entry(data)
    except ValueError as exc:
        raise RegistryFailed(
            502, f"registry {registry_id!r} answered a server entry that is not usable: {exc}"
        ) from None


def summary(registry_id: str, entry: RegistryEntry, installed: Installed) -> RegistryServerSummary:
    server = entry.server
    return RegistryServerSummary(
        name=server.name,
        title=server.title,
        description=server.description,
        version=server.version,
        icons=server.icons,
        repository=server.repository,
        packages=[package.registryType for package in server.packages],
        remotes=[remote.type for remote in server.remotes],
        connector_id=connector_id(registry_id, server.name),
        installed_as=installed.get((registry_id, server.name)),
    )


def detail(registry_id: str, entry: RegistryEntry, installed: Installed) -> RegistryServerDetail:
    return RegistryServerDetail(
        server=entry.raw,
        connector_id=connector_id(registry_id, entry.server.name),
        installed_as=installed.get((registry_id, entry.server.name)),
        plans=plans(entry.server),
    )
