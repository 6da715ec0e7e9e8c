"""`GET /api/settings` (redacted), kept encoded with where each server's part sits in it.

The redacted document is the same bytes for every reader of a version. Made whole again after a
one-server write it took 29 ms at 10,000 servers: every server's secrets masked, then all of it
encoded. The changed servers' parts are encoded again and spliced in among the unchanged bytes
(agent_server.spliced), and what surrounds them is encoded again when it changed. Servers keep
the document's order, new ones last, as a dict copied and changed keeps them; anything else, or
a quarter of the servers changed, makes it whole. The bytes are those of encoding the whole view
(the tests compare a running server's with a fresh one's).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent_server.document import Document
from agent_server.json_codec import dumps
from agent_server.rendered import Encoded, same_objects
from agent_server.server_writes import changed_names, keeps_order, last_names
from agent_server.spliced import Edit, length, spliced, whole
from agent_server.stored_servers import stamps_of
from agent_server.stores.encoded import split_outer
from agent_server.stores.layout import servers_of

View = Callable[[Document], dict[str, Any]]  # the redacted view of a whole document
Part = Callable[[str, Any], bytes]  # one server's `"name":{...}`, redacted

_SPLICE_LIMIT = 4  # splice while fewer than 1/4 of the servers changed


@dataclass(frozen=True)
class _Kept:
    document: Document
    outer: tuple[object, ...]  # what the answer shows besides the servers (same_objects)
    configs: dict[str, object] | None  # the stamps of the servers it was made from, in order
    ends: array[int]  # where each server's part ends, from the first part's start
    start: int  # where the first part starts in the body
    answer: Encoded

    def items(self) -> memoryview:
        return memoryview(self.answer.body)[self.start : self.start + length(self.ends)]


class SettingsAnswer:
    """The redacted answer for the latest document read, made again only for what changed."""

    def __init__(self) -> None:
        self._kept: _Kept | None = None

    def answer(self, document: Document, view: View, part: Part) -> Encoded:
        kept = self._kept
        if kept is not None and kept.document is document:
            return kept.answer
        outer = _outer(document)
        kept = _spliced(kept, document, outer, view, part) or _whole(document, outer, view, part)
        self._kept = kept
        return kept.answer


def _split(document: Document, view: View) -> tuple[bytes, bytes] | None:
    """The view's encoding before and after its servers (see split_outer)."""
    agent = document["agent_settings"]
    mcp = agent["mcp_config"]
    bare = {**document, "agent_settings": {**agent, "mcp_config": {**mcp, "mcpServers": {}}}}
    return split_outer(view(bare))


def _whole(document: Document, outer: tuple[object, ...], view: View, part: Part) -> _Kept:
    servers = servers_of(document)
    split = _split(document, view) if servers is not None else None
    if servers is None or split is None:
        return _Kept(document, outer, None, array("Q"), 0, Encoded(dumps(view(document))))
    head, tail = split
    names = list(servers)
    parts = whole(names, [part(name, servers[name]) for name in names])
    return _made(document, outer, servers, head, parts.items(), parts.ends, tail)


def _spliced(
    kept: _Kept | None, document: Document, outer: tuple[object, ...], view: View, part: Part
) -> _Kept | None:
    """The kept answer with the changed servers' parts made again, and what surrounds them
    when that changed; None when it must be made whole (nothing kept, the servers moved, many
    changed)."""
    servers = servers_of(document)
    if kept is None or kept.configs is None or servers is None:
        return None
    old = kept.configs
    if not keeps_order(old, servers):
        return None
    if same_objects(kept.outer, outer):
        head = kept.answer.body[: kept.start]
        tail = kept.answer.body[kept.start + length(kept.ends) :]
    else:
        split = _split(document, view)
        if split is None:
            return None
        head, tail = split
    changed = changed_names(old, servers, None)
    if len(changed) * _SPLICE_LIMIT > max(len(old), 1):
        return None
    added = sum(1 for name in changed if name not in old)
    names = list(old)
    where = {name: at for at, name in enumerate(names) if name in changed}
    edits = [
        Edit(at, True, name, part(name, servers[name])) if name in servers else Edit(at, True)
        for name, at in sorted(where.items(), key=lambda item: item[1])
    ]
    gained = last_names(servers, added)  # a dict puts what it gained last
    edits += [Edit(len(names), False, name, part(name, servers[name])) for name in gained]
    parts = spliced(names, kept.ends, kept.items(), edits)
    return _made(document, outer, servers, head, parts.items(), parts.ends, tail)


def _made(
    document: Document,
    outer: tuple[object, ...],
    servers: dict[str, Any],
    head: bytes,
    items: bytes,
    ends: array[int],
    tail: bytes,
) -> _Kept:
    # The head ends with the servers' `{`, the tail starts with their `}`.
    body = b"".join((head, items, tail))
    return _Kept(document, outer, stamps_of(servers), ends, len(head), Encoded(body))


def _outer(document: Document) -> tuple[object, ...]:
    """What the view shows besides the servers: every value beside them, with its key."""
    found: list[object] = [document.get("schema_version"), document.get("misc_settings")]
    agent = document.get("agent_settings")
    mcp = agent.get("mcp_config") if isinstance(agent, dict) else None
    for outer, inner in ((agent, "mcp_config"), (mcp, "mcpServers")):
        if not isinstance(outer, dict):
            found.append(outer)
            continue
        for key, value in outer.items():
            found += (key,) if key == inner else (key, value)
    return tuple(found)
