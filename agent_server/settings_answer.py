"""`GET /api/settings` (redacted), kept encoded with where each server's part sits in it.

The redacted document is the same bytes for every reader of a version. Made whole again after a
one-server write it took 29 ms at 10,000 servers: every server's secrets masked, then all of it
encoded. When only servers changed since the kept answer (the rest of what it shows the same
objects), the changed servers' parts are encoded again and spliced in among the unchanged bytes
(agent_server.spliced). Servers keep the document's order, new ones last, as a dict copied and
changed keeps them; anything else, or a quarter of the servers changed, makes it whole. The
bytes are those of encoding the whole view (the tests compare a running server's with a fresh
one's).
"""

from __future__ import annotations

import secrets
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from agent_server.document import Document
from agent_server.json_codec import dumps
from agent_server.rendered import Encoded
from agent_server.spliced import Edit, length, spliced, whole
from agent_server.stores.layout import servers_of

View = Callable[[Document], dict[str, Any]]  # the redacted view of a whole document
Part = Callable[[str, Any], bytes]  # one server's `"name":{...}`, redacted

_MARK = "agent-server-servers-" + secrets.token_hex(16)  # stands in for the servers once
_SPLICE_LIMIT = 4  # splice while fewer than 1/4 of the servers changed


@dataclass(frozen=True)
class _Kept:
    document: Document
    outer: list[object]  # what the answer shows besides the servers, compared by identity
    configs: dict[str, Any] | None  # the servers it was made from, copied; None: not split
    names: list[str]  # in the document's order
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
        kept = _spliced(kept, document, part) or _whole(document, view, part)
        self._kept = kept
        return kept.answer


def _whole(document: Document, view: View, part: Part) -> _Kept:
    servers = servers_of(document)
    if servers is None:
        return _Kept(
            document, _outer(document), None, [], array("Q"), 0, Encoded(dumps(view(document)))
        )
    agent = document["agent_settings"]
    mcp = agent["mcp_config"]
    bare = {**document, "agent_settings": {**agent, "mcp_config": {**mcp, "mcpServers": {}}}}
    shown = view(bare)
    shown["agent_settings"]["mcp_config"]["mcpServers"] = _MARK  # a copy the view made
    head, tail = dumps(shown).split(dumps(_MARK))
    names = list(servers)
    parts = whole(names, [part(name, servers[name]) for name in names])
    return _made(document, servers, head, parts.items(), names, parts.ends, tail)


def _spliced(kept: _Kept | None, document: Document, part: Part) -> _Kept | None:
    """The kept answer with the changed servers' parts made again; None when it must be made
    whole (nothing kept, something else changed, the servers moved, many changed)."""
    servers = servers_of(document)
    if kept is None or kept.configs is None or servers is None:
        return None
    if not _same(kept.outer, _outer(document)):
        return None
    old = kept.configs
    changed = {name for name, config in servers.items() if old.get(name) is not config}
    added = [name for name in changed if name not in old]
    removed = old.keys() - servers.keys() if len(servers) - len(added) != len(old) else set()
    if (len(changed) + len(removed)) * _SPLICE_LIMIT > max(len(kept.names), 1):
        return None
    last = list(islice(reversed(servers), len(added)))[::-1]  # where a dict puts what it gained
    if set(last) != set(added):
        return None
    kept_names = [name for name in kept.names if name not in removed] if removed else kept.names
    if list(islice(servers, len(servers) - len(added))) != kept_names:
        return None  # the servers moved
    index = {name: at for at, name in enumerate(kept.names) if name in changed or name in removed}
    edits = [
        Edit(at, True, name, part(name, servers[name])) if name in servers else Edit(at, True)
        for name, at in sorted(index.items(), key=lambda item: item[1])
    ]
    edits += [Edit(len(kept.names), False, name, part(name, servers[name])) for name in last]
    parts = spliced(kept.names, kept.ends, kept.items(), edits)
    head = kept.answer.body[: kept.start - 1]
    tail = kept.answer.body[kept.start + length(kept.ends) + 1 :]
    return _made(document, servers, head, parts.items(), parts.names, parts.ends, tail)


def _made(
    document: Document,
    servers: dict[str, Any],
    head: bytes,
    items: bytes,
    names: list[str],
    ends: array[int],
    tail: bytes,
) -> _Kept:
    body = b"".join((head, b"{", items, b"}", tail))
    return _Kept(
        document, _outer(document), dict(servers), names, ends, len(head) + 1, Encoded(body)
    )


def _outer(document: Document) -> list[object]:
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
    return found


def _same(kept: list[object], now: list[object]) -> bool:
    return len(kept) == len(now) and all(a is b for a, b in zip(kept, now, strict=True))
