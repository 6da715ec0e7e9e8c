"""settings.json kept encoded in parts, so a write of a few servers encodes only those servers.

Encoding a whole document of 10,000 servers costs about 4 ms when it was loaded from the file and
2 to 3 times that when it was built through the API (its objects then lie scattered over the
heap), against about 6 ms for writing its 6 MB durably. So the file store keeps the encoding of
its document as the bytes before the servers, the servers in chunks of CHUNK, and the bytes
after them. A write re-encodes only the servers that are not the same objects as before (the
names `with_server` marked, or else every server compared by identity) and re-joins their
chunks, and the outer document when it changed; the file is written from the buffers with
`os.writev`, never joined into one. The bytes are exactly orjson's encoding of the whole document
(the tests compare them), so which way a version was written never shows in the file. A document
whose servers moved (not the order a dict copied and changed keeps) is encoded whole again. The
encoding's document reads its servers from these chunks (agent_server.stored_servers): it is all
the store keeps of them.
"""

from __future__ import annotations

import secrets
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, pairwise
from typing import Any

from agent_server.document import Document
from agent_server.json_codec import dumps
from agent_server.server_writes import (
    changed_names,
    keeps_order,
    last_names,
    marked_names,
    pending_servers,
)
from agent_server.stored_servers import (
    Slices,
    StoredServers,
    located,
    position,
    same_stamp,
    stamp_at,
)
from agent_server.stores.layout import servers_of

CHUNK = 64  # servers per joined buffer: a few dozen kB to re-join, ~160 buffers at 10,000
_MARKER = "agent-server-servers-" + secrets.token_hex(16)  # stands in for the servers once


@dataclass(frozen=True)
class _Chunk:
    """Servers encoded one after another: each as `"name":{...}`, with a leading comma but the
    first. Only the joined bytes are kept (and where each server's part ends): keeping the parts
    too held every server's bytes twice, 6 MiB more at 10,000 servers."""

    names: tuple[str | None, ...]  # None where a server was removed
    ends: array[int]  # where each server's part ends in data (never changed)
    hashes: array[int]  # each part's hash: the stamp of the server read from it
    data: bytes

    def parts(self) -> list[bytes]:
        return [self.data[start:end] for start, end in pairwise((0, *self.ends))]


def _chunk(names: tuple[str | None, ...], parts: Sequence[bytes]) -> _Chunk:
    ends = array("Q", accumulate(map(len, parts)))
    return _Chunk(names, ends, array("q", map(hash, parts)), b"".join(parts))


@dataclass(frozen=True)
class EncodedDocument:
    """The encoding of `document` in buffers; `where` finds a server's chunk and slot."""

    document: Document
    head: bytes  # up to and including the servers' `{`
    chunks: tuple[_Chunk, ...]
    tail: bytes  # from the servers' `}`
    where: dict[str, int]  # by name, where its part sits (stored_servers.located)
    size: int
    holes: int = 0  # slots of removed servers, until the next whole encoding compacts them

    def buffers(self) -> list[bytes]:
        return [self.head, *(chunk.data for chunk in self.chunks), self.tail]

    def followed_by(self, new: Document) -> EncodedDocument | None:
        """The encoding of `new`, made from this one; None when `new` must be encoded whole.

        Only servers that are not the same objects as in this document are encoded again: the
        names a `with_server` change marked, or else every server compared by identity (a
        whole-document PATCH, or another process's writes the journal brought in, which share
        what they did not change). The outer document is encoded again when it changed.
        """
        old_servers, new_servers = servers_of(self.document), servers_of(new)
        if old_servers is None or new_servers is None:
            return None
        if pending_servers(new) is not None:
            return None  # another store's LiveServers, not applied yet
        encoded = self
        if new_servers is not old_servers:
            marked = marked_names(new, old_servers, new_servers)
            if marked is None and not keeps_order(old_servers, new_servers):
                return None
            names = changed_names(old_servers, new_servers, marked)
            encoded = self._with_servers(old_servers, new_servers, names)
            if encoded.holes > max(CHUNK, len(encoded.where)):
                return None  # more removed than kept: encode it whole again, without holes
        if _outer_changed(self.document, new):
            return encoded._with_outer(new)
        return replace(encoded, document=new)

    def holding(self, new: Document) -> EncodedDocument:
        """This encoding, whose document is `new` reading its servers from the encoding (what
        a store keeps of a version once it is written: encoded, no server parsed). Only then:
        the next change is made from, and marked against, the document it was given."""
        return replace(self, document=_reading_slices(new, Slices(self.chunks, self.where)))

    def _with_outer(self, new: Document) -> EncodedDocument | None:
        split = split_outer(new)
        if split is None:
            return None
        head, tail = split
        size = self.size - len(self.head) - len(self.tail) + len(head) + len(tail)
        return replace(self, document=new, head=head, tail=tail, size=size)

    def _with_servers(
        self, old: dict[str, Any], servers: dict[str, Any], changed: list[str]
    ) -> EncodedDocument:
        """This encoding with the servers named in `changed` set, added or removed as in
        `servers` (new names come last in a dict, and so in the file)."""
        added = sum(1 for name in changed if name in servers and name not in old)
        removed = [name for name in changed if name in old and name not in servers]
        chunks = list(self.chunks)
        where = self.where
        edits: dict[int, dict[int, tuple[str | None, bytes]]] = {}  # chunk -> slot -> new
        first = self._first_slot()
        for name in removed:
            index, slot = position(where[name])
            edits.setdefault(index, {})[slot] = (None, b"")
        if removed:  # rare: the names are filtered, and a new first server loses its comma
            where = {name: at for name, at in where.items() if name in servers}
            if first is not None and _name_at(chunks, edits, first) is None:
                first = _next_slot(chunks, edits, first)
                if first is not None:
                    heir = _name_at(chunks, edits, first)
                    assert heir is not None
                    edits.setdefault(first[0], {})[first[1]] = (heir, _part(heir, servers, True))
        for name in changed:
            if (
                name in servers
                and name in old
                and not same_stamp(stamp_at(servers, name), stamp_at(old, name))
            ):
                at = position(where[name])
                edits.setdefault(at[0], {})[at[1]] = (name, _part(name, servers, at == first))
        size = self.size
        for index, slots in edits.items():
            chunk = chunks[index]
            names, parts = list(chunk.names), chunk.parts()
            for slot, (slot_name, part) in slots.items():
                size += len(part) - len(parts[slot])
                names[slot], parts[slot] = slot_name, part
            chunks[index] = _chunk(tuple(names), tuple(parts))
        if added:
            where = dict(where) if where is self.where else where
            for name in last_names(servers, added):
                if not chunks or len(chunks[-1].names) >= CHUNK:
                    chunks.append(_chunk((), ()))
                last = chunks[-1]
                at = (len(chunks) - 1, len(last.names))
                part = _part(name, servers, first is None)
                first = first or at
                where[name] = located(*at)
                chunks[-1] = _chunk((*last.names, name), [*last.parts(), part])
                size += len(part)
        holes = self.holes + len(removed)
        return replace(self, chunks=tuple(chunks), where=where, size=size, holes=holes)

    def _first_slot(self) -> tuple[int, int] | None:
        """Where the first server still present sits (its part has no comma)."""
        for index, chunk in enumerate(self.chunks):
            for slot, name in enumerate(chunk.names):
                if name is not None:
                    return index, slot
        return None


def _name_at(
    chunks: list[_Chunk], edits: dict[int, dict[int, tuple[str | None, bytes]]], at: tuple[int, int]
) -> str | None:
    edit = edits.get(at[0], {}).get(at[1])
    return edit[0] if edit is not None else chunks[at[0]].names[at[1]]


def _next_slot(
    chunks: list[_Chunk],
    edits: dict[int, dict[int, tuple[str | None, bytes]]],
    after: tuple[int, int],
) -> tuple[int, int] | None:
    """The first slot after `after` that still holds a server."""
    for index in range(after[0], len(chunks)):
        start = after[1] + 1 if index == after[0] else 0
        for slot in range(start, len(chunks[index].names)):
            if _name_at(chunks, edits, (index, slot)) is not None:
                return index, slot
    return None


def _part(name: str, servers: dict[str, Any], first: bool) -> bytes:
    return (b"" if first else b",") + dumps(name) + b":" + dumps(servers[name])


def _outer_changed(old: Document, new: Document) -> bool:
    """Whether anything but the servers differs (by identity); both hold a servers' object."""
    changed = _differs(old, new, "agent_settings")
    old_agent, new_agent = old["agent_settings"], new["agent_settings"]
    changed |= _differs(old_agent, new_agent, "mcp_config")
    changed |= _differs(old_agent["mcp_config"], new_agent["mcp_config"], "mcpServers")
    return changed


def _differs(old: dict[str, Any], new: dict[str, Any], inner: str) -> bool:
    """Whether any value of `new` but `inner` is not the same object as in `old`."""
    if len(old) != len(new):
        return True
    return any(value is not old.get(key) for key, value in new.items() if key != inner)


def split_outer(document: Document) -> tuple[bytes, bytes] | None:
    """(head, tail): the document's encoding before and after its servers (the head ends with
    the servers' `{`, the tail starts with their `}`); None when the document holds no
    servers' object to split out."""
    agent = document["agent_settings"]
    mcp = {**agent["mcp_config"], "mcpServers": _MARKER}
    outer = dumps({**document, "agent_settings": {**agent, "mcp_config": mcp}})
    head, found, tail = outer.partition(dumps(_MARKER))
    if not found or _MARKER.encode() in tail:
        return None
    return head + b"{", b"}" + tail


def encode(document: Document) -> EncodedDocument | None:
    """The document encoded in parts; None when it holds no servers' object to split out."""
    servers = servers_of(document)
    if servers is None:
        return None
    split = split_outer(document)
    if split is None:
        return None
    head, tail = split
    names = [_own_copy(name) for name in servers]
    chunks = tuple(  # a chunk's parts are let go once joined: they never all live at once
        _chunk(
            tuple(names[i : i + CHUNK]),
            [_part(name, servers, i + k == 0) for k, name in enumerate(names[i : i + CHUNK])],
        )
        for i in range(0, len(names), CHUNK)
    )
    where = {name: located(*divmod(index, CHUNK)) for index, name in enumerate(names)}
    size = len(head) + len(tail) + sum(len(chunk.data) for chunk in chunks)
    return EncodedDocument(document, head, chunks, tail, where, size)


def _own_copy(name: str) -> str:
    """A new string equal to `name`: the names kept must not sit among a parse's objects, or
    the parse's memory (arenas of 1 MiB) stays with the process after the rest is let go."""
    return name.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def _reading_slices(document: Document, slices: Slices) -> Document:
    """`document` with its servers read from `slices`: the same outer objects, and no parsed
    server held (their `mcp_config` loses the marks of the write that made it)."""
    agent = document["agent_settings"]
    mcp = agent["mcp_config"]
    servers = StoredServers(slices)
    return {**document, "agent_settings": {**agent, "mcp_config": {**mcp, "mcpServers": servers}}}
