"""How a write of a few MCP servers makes the new document: the rest shared as it was, and the
changed names marked for a store that writes one row per server.

A store that keeps its servers as LiveServers (the PostgreSQL store) gets, for a change that only
replaces existing servers, no new collection at all: the change records what it set, and the
store applies it in place once the write has committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import Any

from agent_server.document import Document, mcp_servers
from agent_server.stored_servers import (
    MISSING,
    StoredServers,
    same_stamp,
    stamp_at,
    stamps_of,
)


class LiveServers(dict[str, Any]):
    """The MCP servers of a store's cached document, which that store replaces in place.

    A store that keeps one row per server need not build a new collection for each version: a
    change that only replaces existing servers leaves these untouched and records what it set
    (ServersChange.pending); the store applies it here once the write has committed, so a write
    of one server costs the same with ten servers or 100,000. Only replacing values happens in
    place (iterating readers never see the size change), and what a reader sees is always a
    committed value, never an older one. Adding or removing a server makes a new collection.
    `owner` is the store that may change it.
    """

    __slots__ = ("owner",)

    def __init__(self, servers: dict[str, Any], owner: object) -> None:
        super().__init__(servers)
        self.owner = owner


class ServersChange(dict[str, Any]):
    """An mcp_config whose mcpServers was made from another by setting or removing a few names,
    which it remembers.

    A store that keeps one row per server writes just those rows instead of comparing every
    server of a large document. The mark sits on the small mcp_config, so the servers stay what
    the store gave (a plain dict, or its LiveServers), and names both collections by id: a store
    trusts it only while both are alive in its hands (so the ids are unambiguous) and the sizes
    agree. `pending` holds the servers a change set on LiveServers without copying them: the
    store that owns them applies it (`settle`) once the write has committed.
    """

    __slots__ = ("base_id", "changed", "pending", "servers_id")

    def __init__(
        self,
        mcp: dict[str, Any],
        servers: dict[str, Any],
        base: dict[str, Any],
        changed: frozenset[str],
        pending: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(mcp)
        self["mcpServers"] = servers
        self.base_id = id(base)
        self.servers_id = id(servers)
        self.changed = changed
        self.pending = pending


def pending_servers(document: Document) -> dict[str, dict[str, Any]] | None:
    """The servers a change left to apply in place on the document's LiveServers, if any."""
    agent = document.get("agent_settings")
    mcp = agent.get("mcp_config") if isinstance(agent, dict) else None
    return mcp.pending if type(mcp) is ServersChange else None


def settle(document: Document) -> Document:
    """Apply what a committed change left pending on its LiveServers (once); the document."""
    mcp = document["agent_settings"].get("mcp_config")
    if type(mcp) is ServersChange and mcp.pending is not None:
        mcp["mcpServers"].update(mcp.pending)
        mcp.pending = None
    return document


def with_server(document: Document, name: str, config: dict[str, Any] | None) -> Document:
    """The document with one user server set (or removed, for None); the rest shared as it was."""
    if config is not None:
        return with_servers(document, {name: config})
    old = mcp_servers(document)
    if isinstance(old, StoredServers):
        return _with_marked(document, old.with_changes({name: None}), old, frozenset([name]))
    if type(old) is LiveServers:
        servers: dict[str, Any] = LiveServers(old, old.owner)
    else:
        servers = dict(old)
    servers.pop(name, None)
    return _with_marked(document, servers, old, frozenset([name]))


def with_servers(document: Document, changes: dict[str, dict[str, Any]]) -> Document:
    """The document with several user servers set at once; the rest shared as it was.

    On LiveServers, replacing existing servers leaves them as they are and records the changes
    as pending, for the store to apply once written; anything else copies."""
    old = mcp_servers(document)
    if isinstance(old, StoredServers):
        return _with_marked(document, old.with_changes(changes), old, frozenset(changes))
    if type(old) is LiveServers:
        if all(name in old for name in changes):
            return _with_marked(document, old, old, frozenset(changes), dict(changes))
        servers: dict[str, Any] = LiveServers(old, old.owner)
        servers.update(changes)
    else:
        servers = {**old, **changes}
    return _with_marked(document, servers, old, frozenset(changes))


def marked_as_changed(
    document: Document, servers: dict[str, Any], old: dict[str, Any], changed: frozenset[str]
) -> Document:
    """`document`, whose `servers` were made from `old` by setting or removing `changed` (and
    nothing else), marked so: a store then encodes or writes just those."""
    return _with_marked(document, servers, old, changed)


def _with_marked(
    document: Document,
    servers: dict[str, Any],
    old: dict[str, Any],
    changed: frozenset[str],
    pending: dict[str, dict[str, Any]] | None = None,
) -> Document:
    agent = document["agent_settings"]
    mcp = agent.get("mcp_config") or {}
    marked = ServersChange(mcp, servers, old, changed, pending)
    return {**document, "agent_settings": {**agent, "mcp_config": marked}}


def marked_names(
    document: Document, old: dict[str, Any], new: dict[str, Any]
) -> frozenset[str] | None:
    """The server names a ServersChange in `document` records, when it was made from `old`."""
    agent = document.get("agent_settings")
    mcp = agent.get("mcp_config") if isinstance(agent, dict) else None
    if type(mcp) is not ServersChange or mcp.servers_id != id(new) or mcp.base_id != id(old):
        return None
    added = sum(1 for name in mcp.changed if name in new and name not in old)
    removed = sum(1 for name in mcp.changed if name in old and name not in new)
    return mcp.changed if len(new) == len(old) + added - removed else None


def changed_names(
    old: Mapping[str, Any], new: Mapping[str, Any], marked: frozenset[str] | None
) -> list[str]:
    """Names whose entry is new, replaced or removed: from the change's own record when it has
    one, else by comparing every entry (a whole-document PATCH). Entries compare by stamp
    (agent_server.stored_servers), so `old` may also be the stamps of a version."""
    if new is old:
        return []
    if isinstance(old, StoredServers) and isinstance(new, StoredServers):
        found = new.changed_from(old)
        if found is not None:
            return found
    if marked is not None:
        return [name for name in marked if not same_stamp(stamp_at(new, name), stamp_at(old, name))]
    before = stamps_of(old)
    changed = [
        name
        for name, stamp in stamps_of(new).items()
        if not same_stamp(before.get(name, MISSING), stamp)
    ]
    if len(new) - sum(1 for name in changed if name not in before) != len(before):
        changed.extend(name for name in before if name not in new)
    return changed


def keeps_order(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether `new` keeps `old`'s order for the names both hold and has its other names last,
    as a dict copied and changed does (checked where no mark says it was made so)."""
    if isinstance(new, StoredServers) and new.reads_same_slices(old):
        return True
    if len(new) == len(old) and list(new) == list(old):  # the common case, compared in C
        return True
    kept = [name for name in old if name in new]
    if any(a != b for a, b in zip(new, kept, strict=False)):
        return False
    return all(name not in old for name in islice(new, len(kept), None))


def last_names(servers: Mapping[str, Any], count: int) -> list[str]:
    """The last `count` names of `servers`, in order: where a dict puts the names it gained."""
    return list(islice(reversed(servers), count))[::-1]
