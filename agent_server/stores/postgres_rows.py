"""How the PostgreSQL store's cache and a write relate: the cached version, the rows a change
turns into, and what a committed write leaves to put into the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_server.document import Document
from agent_server.json_codec import dumps
from agent_server.server_writes import changed_names, marked_names, pending_servers
from agent_server.stores.layout import KINDS, Kind, entries_of, rest_of


@dataclass(frozen=True)
class Cached:
    version: int
    document: Document
    rest: Document


@dataclass
class Rows:
    """What a write sends: the changed entries (None config for a deleted one), maybe the rest;
    `servers_only` when it is a few servers a ServersChange named, and nothing else."""

    kinds: list[Kind]
    names: list[str]
    configs: list[str | None]
    rest: Document | None
    servers_only: bool = False

    @property
    def empty(self) -> bool:
        return not self.names and self.rest is None


@dataclass(frozen=True)
class Written:
    """A write's outcome: its document, the cache entry it was made from, the version it
    committed (None when it wrote nothing), its rows and its rest."""

    new: Document
    base: Cached
    version: int | None
    rows: Rows
    rest: Document

    def entries(self) -> list[tuple[Kind, str, Any]]:
        """The entries it wrote, as (kind, name, config or None)."""
        pending = pending_servers(self.new) or {}
        found = []
        for kind, name in zip(self.rows.kinds, self.rows.names, strict=True):
            config = pending[name] if name in pending else entries_of(self.new, kind).get(name)
            found.append((kind, name, config))
        return found


def plan_rows(cached: Cached, new: Document) -> tuple[Rows, Document]:
    """The rows that turn the cached document into `new`, and `new`'s rest."""
    rows = Rows([], [], [], None)
    written = cached.version > 0  # at version 0 the defaults are served, no row holds them
    marked_only = True
    for kind in KINDS:
        old_entries = entries_of(cached.document, kind) if written else {}
        new_entries = entries_of(new, kind)
        pending = pending_servers(new) if kind == "server" and written else None
        if pending is not None and new_entries is old_entries:
            names: list[str] = list(pending)
            new_entries = pending
        else:
            marked = marked_names(new, old_entries, new_entries) if kind == "server" else None
            if kind == "server":
                marked_only = marked is not None
            names = changed_names(old_entries, new_entries, marked)
        for name in names:
            config = new_entries.get(name)
            if config is not None and config == old_entries.get(name):
                continue
            rows.kinds.append(kind)
            rows.names.append(name)
            rows.configs.append(None if config is None else dumps(config).decode())
    rest = rest_of(new)
    if rest != cached.rest or not written:
        rows.rest = rest
    rows.servers_only = marked_only and rows.rest is None and set(rows.kinds) == {"server"}
    return rows, rest
