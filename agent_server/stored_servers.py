"""The MCP servers of a file-store version, read from the file's kept encoding when asked for.

At ten thousand servers the parsed servers took 13.6 MiB, and the store kept the same servers
encoded (5.7 MiB) to write the file. So the file store keeps only the encoding: a server is
parsed from its slice when it is read (a few microseconds) and let go when its reader is done.

A parsed server is a StoredConfig, which carries a stamp: the hash of its encoded slice (Python's
keyed hash of bytes, its key random per process: two contents of one name share a stamp about as
often as a random 64-bit guess is right). Two reads of one unchanged server are two objects with
one stamp, and the caches that asked "is this
the same config object" (ETags, the list, the settings answer, the encoding itself) ask
`same_config` instead. A write sets a few servers over the stored ones (`with_changes`): those
are plain dicts until the store has written and encoded them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from agent_server.json_codec import dumps

_REMOVED = object()
MISSING = object()  # stamp_at's answer for a name not there


class StoredConfig(dict[str, Any]):
    """A server config parsed from the stored encoding; `stamp` names its encoded bytes."""

    __slots__ = ("stamp",)

    stamp: int


def config_stamp(config: Any) -> object:
    """What names a config's content: its stamp when it was read from the store, else itself
    (compared by identity)."""
    return config.stamp if type(config) is StoredConfig else config


def same_stamp(a: object, b: object) -> bool:
    return a is b or (type(a) is int and a == b)


def same_config(a: Any, b: Any) -> bool:
    """Whether two configs are the same stored content: one object, or read from one slice."""
    return a is b or (type(a) is StoredConfig and type(b) is StoredConfig and a.stamp == b.stamp)


def located(index: int, slot: int) -> int:
    """A chunk's index and a slot in it (below 256), as one int: a tuple per server took 0.4 MiB
    more at ten thousand servers."""
    return index << 8 | slot


def position(at: int) -> tuple[int, int]:
    """(chunk index, slot) of a `located` int."""
    return at >> 8, at & 0xFF


class Slices:
    """Where each server's encoded part sits: chunks of joined parts, each with its names, the
    ends of its parts and their hashes (the stamps)."""

    __slots__ = ("_stamps", "chunks", "where")

    def __init__(self, chunks: tuple[Any, ...], where: dict[str, int]) -> None:
        self.chunks = chunks  # stores.encoded._Chunk: names, ends, hashes, data
        self.where = where
        self._stamps: Stamps | None = None

    def parse(self, name: str) -> StoredConfig:
        index, slot = position(self.where[name])
        chunk = self.chunks[index]
        ends: array[int] = chunk.ends
        start = ends[slot - 1] if slot else 0
        data: bytes = chunk.data
        if data[start] == 0x2C:  # the comma before every part but the first
            start += 1
        start += len(dumps(name)) + 1  # `"name":`
        config = StoredConfig(orjson.loads(memoryview(data)[start : ends[slot]]))
        config.stamp = chunk.hashes[slot]
        return config

    def stamp(self, name: str) -> int:
        index, slot = position(self.where[name])
        stamp: int = self.chunks[index].hashes[slot]
        return stamp

    def stamps(self) -> Stamps:
        """Every name's stamp, made once (the list and the settings answer share them)."""
        if self._stamps is None:
            found = Stamps()
            for chunk in self.chunks:
                found.update(zip(chunk.names, chunk.hashes, strict=True))
            found.pop(None, None)  # type: ignore[call-overload]  # slots of removed servers
            self._stamps = found
        return self._stamps

    def names(self) -> Iterator[str]:
        for chunk in self.chunks:
            for name in chunk.names:
                if name is not None:
                    yield name

    def names_reversed(self) -> Iterator[str]:
        for chunk in reversed(self.chunks):
            for name in reversed(chunk.names):
                if name is not None:
                    yield name


class StoredServers(Mapping[str, dict[str, Any]]):
    """Servers by name in the stored order, each parsed from its slice when read; `changes`
    (plain configs, or _REMOVED) set over them keep their place, new names come last, as in a
    dict copied and changed."""

    __slots__ = ("__weakref__", "_changes", "_length", "_slices")

    def __init__(self, slices: Slices, changes: dict[str, Any] | None = None) -> None:
        self._slices = slices
        self._changes = changes or {}
        where = slices.where
        length = len(where)
        for name, config in self._changes.items():
            if name in where:
                length -= config is _REMOVED
            elif config is not _REMOVED:
                length += 1
        self._length = length

    def with_changes(self, changes: dict[str, Any]) -> StoredServers:
        """These servers with `changes` set (a config, or None to remove the name)."""
        merged = dict(self._changes)
        for name, config in changes.items():
            if config is None:
                if name in self._slices.where:
                    merged[name] = _REMOVED
                else:
                    merged.pop(name, None)
            else:
                merged[name] = config
        return StoredServers(self._slices, merged)

    def __getitem__(self, name: str) -> dict[str, Any]:
        changed = self._changes.get(name)
        if changed is not None:
            if changed is _REMOVED:
                raise KeyError(name)
            config: dict[str, Any] = changed
            return config
        return self._slices.parse(name)

    def __contains__(self, name: object) -> bool:
        changed = self._changes.get(name)  # type: ignore[call-overload]
        if changed is not None:
            return changed is not _REMOVED
        return name in self._slices.where

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[str]:
        changes = self._changes
        if not changes:
            yield from self._slices.names()
            return
        where = self._slices.where
        for name in self._slices.names():
            if changes.get(name) is not _REMOVED:
                yield name
        for name, config in changes.items():
            if name not in where and config is not _REMOVED:
                yield name

    def __reversed__(self) -> Iterator[str]:
        where = self._slices.where
        added = [n for n, c in self._changes.items() if n not in where and c is not _REMOVED]
        yield from reversed(added)
        for name in self._slices.names_reversed():
            if self._changes.get(name) is not _REMOVED:
                yield name

    def stamp(self, name: str) -> object:
        """The stamp of the server `name` (config_stamp) without parsing it; MISSING if absent."""
        changed = self._changes.get(name)
        if changed is not None:
            return MISSING if changed is _REMOVED else config_stamp(changed)
        if name in self._slices.where:
            return self._slices.stamp(name)
        return MISSING

    def stamps(self) -> Stamps:
        """Each name's stamp (config_stamp), in order, without parsing a server (shared: not
        to be changed)."""
        if not self._changes:
            return self._slices.stamps()
        found = Stamps(self._slices.stamps())
        for name, config in self._changes.items():
            if config is _REMOVED:
                found.pop(name, None)
            else:
                found[name] = config_stamp(config)
        return found

    def reads_same_slices(self, other: object) -> bool:
        """Whether `other` is servers set over the same encoding as these: the two then differ
        only in what either set, and keep one order (as a dict copied and changed does)."""
        return isinstance(other, StoredServers) and other._slices is self._slices

    def changed_from(self, other: StoredServers) -> list[str] | None:
        """The names whose stamps differ from `other`'s, when both read the same slices (the
        names either set over them); None otherwise."""
        if not self.reads_same_slices(other):
            return None
        names = self._changes.keys() | other._changes.keys()
        return [name for name in names if not same_stamp(self.stamp(name), other.stamp(name))]


def stamp_at(servers: Mapping[str, Any], name: str) -> object:
    """The stamp of `servers`' config `name` (config_stamp), or MISSING."""
    if isinstance(servers, StoredServers):
        return servers.stamp(name)
    config = servers.get(name, MISSING)
    return MISSING if config is MISSING else config_stamp(config)


class Stamps(dict[str, object]):
    """Servers' stamps by name, in order: what a version's servers are compared by."""


def stamps_of(servers: Mapping[str, Any]) -> Stamps:
    """Each server's stamp by name (see config_stamp), to compare versions by."""
    if isinstance(servers, Stamps):
        return servers
    if isinstance(servers, StoredServers):
        return servers.stamps()
    return Stamps((name, config_stamp(config)) for name, config in servers.items())
