"""What the last writes changed, so another process catches up without parsing the whole file.

With several workers, every write by one made each of the others read and parse all of
settings.json on its next request: 20 to 50 ms at ten thousand servers, for a write that changed
one server. So each writer also records, beside the file, what its write changed (the paths whose
values differ, found by identity: the store shares unchanged parts between versions) from the
version it replaced to the one it wrote, each version named by its file stamp. A reader whose
cached version is on that chain applies the few changes instead of parsing the file.

The journal is a cache: it is written before the new settings.json is renamed into place, under
the same lock, and a reader that finds no unbroken chain from its version to the file's (a missing,
damaged, half-rewritten or trimmed journal, a write too large to record) parses the file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson

from agent_server.document import Document
from agent_server.server_writes import changed_names, marked_as_changed
from agent_server.stored_servers import StoredServers
from agent_server.stores.layout import servers_of

log = logging.getLogger(__name__)

JOURNAL_FILE = "settings.journal"
KEEP = 64  # the writes kept: a reader further behind than this parses the file
MAX_CHANGE_SHARE = 8  # a write whose changes encode to over 1/8 of the document is not recorded
MAX_CHANGE_BYTES = 256 * 1024  # nor one whose changes encode to more than this
MAX_JOURNAL_BYTES = 1024 * 1024  # past this the file is rewritten with the last writes
# (at most KEEP of them, in at most half of it, so a rewrite comes at most every half of it)
_SEAL_HEX = 32  # hex digits of a line's hash, before its entry

Stamp = tuple[int, int, int]
Path_ = list[str]
_MISSING = object()
_SERVERS = ["agent_settings", "mcp_config", "mcpServers"]  # the path of the servers' collection


def changes(old: Any, new: Any, path: Path_ | None = None) -> list[list[Any]]:
    """[path, value] for every value `new` sets and [path] for every key it drops.

    Walks only into dicts that are distinct objects in both versions, so a one-server write costs
    one pass over the servers' names, by identity.
    """
    path = path or []
    found: list[list[Any]] = []
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before is value:
            continue
        if isinstance(before, dict) and isinstance(value, dict):
            found += changes(before, value, [*path, key])
        elif isinstance(before, Mapping) and isinstance(value, Mapping):  # stored servers
            found += [
                [[*path, key, name], value[name]] if name in value else [[*path, key, name]]
                for name in changed_names(before, value, None)
            ]
        elif before is _MISSING or before != value:
            found.append([[*path, key], value])
    found += [[[*path, key]] for key in old if key not in new]
    return found


def apply(document: Document, changed: list[list[Any]]) -> Document:
    """A new document: `document` with the changes made, sharing every part they do not touch.

    Servers the store reads from its encoding (StoredServers) get the changes of their entries
    set over them, unparsed; anything else is copied along each change's path.
    """
    servers = servers_of(document)
    if isinstance(servers, StoredServers):
        entries = [c for c in changed if _below_servers(c)]
        rest = [c for c in changed if not _below_servers(c)]
        if entries and not any(_replaces_servers(c) for c in rest):
            document = _apply_copying(document, rest)
            agent = document["agent_settings"]
            mcp = agent["mcp_config"]
            servers = servers.with_changes(_entries_set(servers, entries))
            agent = {**agent, "mcp_config": {**mcp, "mcpServers": servers}}
            return {**document, "agent_settings": agent}
    return _apply_copying(document, changed)


def _below_servers(change: list[Any]) -> bool:
    """Whether a change sets or drops a server, or something inside one."""
    keys = change[0]
    return len(keys) > len(_SERVERS) and keys[: len(_SERVERS)] == _SERVERS


def _replaces_servers(change: list[Any]) -> bool:
    """Whether a change sets or drops the servers' collection itself, or what holds it."""
    keys = change[0]
    return bool(keys == _SERVERS[: len(keys)])


def _entries_set(servers: StoredServers, entries: list[list[Any]]) -> dict[str, Any]:
    """What the changes below the servers set each server they touch to (None: removed)."""
    found: dict[str, Any] = {}
    for change in entries:
        keys = change[0]
        name = keys[3]
        if len(keys) == 4:
            found[name] = change[1] if len(change) == 2 else None
            continue
        config = found[name] if name in found else servers.get(name)
        inner = _apply_copying(
            {"c": config if config is not None else {}}, [[["c", *keys[4:]], *change[1:]]]
        )
        found[name] = inner["c"]
    return found


def _apply_copying(document: Document, changed: list[list[Any]]) -> Document:
    top: dict[str, Any] = dict(document)
    copied: set[tuple[str, ...]] = {()}
    for change in changed:
        keys = change[0]
        node = top
        for depth, key in enumerate(keys[:-1]):
            prefix = tuple(keys[: depth + 1])
            child = node.get(key)
            if isinstance(child, Mapping) and not isinstance(child, dict):
                child = dict(child)  # servers read from the encoding, parsed: a rare change
            elif not isinstance(child, dict):
                child = {}
            if prefix not in copied:
                child = dict(child)
                copied.add(prefix)
            node[key] = child
            node = child
        if len(change) == 2:
            node[keys[-1]] = change[1]
        else:
            node.pop(keys[-1], None)
    return top


def _marked(before: Document, after: Document, chain: list[list[list[Any]]]) -> Document:
    """`after` with the names of the servers `chain` set or dropped marked, when it touched
    nothing of the servers' collection but its entries: the next encoding then re-encodes those
    servers instead of comparing every one (about 1 ms at 10,000 servers, on every write that
    follows another worker's)."""
    old, new = servers_of(before), servers_of(after)
    names = _servers_touched(chain)
    if old is None or new is None or new is old or names is None:
        return after
    return marked_as_changed(after, new, old, names)


def _servers_touched(chain: list[list[list[Any]]]) -> frozenset[str] | None:
    """The server names the changes set or drop; None when one replaces the servers'
    collection or what holds it."""
    names: set[str] = set()
    for changed in chain:
        for change in changed:
            if _below_servers(change):
                names.add(change[0][len(_SERVERS)])
            elif _replaces_servers(change):
                return None
    return frozenset(names)


class Journal:
    """The journal file of one home. `record` runs under the store's lock; `catch_up` without.

    One line per write, `<stamp> <seal><entry>\n` (the stamp of the version it changes, then the
    hash of the entry): a writer appends its line (pwrite at the end, through one open
    descriptor) without reading the others, and a reader reads on from where its last catch-up
    ended, so neither pays for the writes it already knows. When the file outgrows
    MAX_JOURNAL_BYTES, or ends in a line cut short, the writer rewrites it in place with the
    last few writes (on ext4 a temp file renamed over it, or a truncate before
    the write, makes the kernel flush it at once and cost more than the rest of a small write).
    A reader may therefore see that rewrite half done; a line whose seal does not match is
    ignored, and a reader that finds no unbroken chain parses the settings file.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / JOURNAL_FILE
        self._fd: int | None = None
        self._read_to: tuple[list[int], int] | None = None  # (stamp, offset) where reading ended

    def record(self, before: Stamp | None, after: Stamp, changed: list[list[Any]] | None) -> None:
        """Add one write; `changed` None: too large to record (the chain breaks there)."""
        if before is None or changed is None:
            return  # readers at `before` find no line starting there and parse the file
        line = _line([list(before), list(after), changed])
        try:
            fd = self._open()
            end = os.fstat(fd).st_size
            intact = not end or os.pread(fd, 1, end - 1) == b"\n"  # else a line cut short
            if intact and end + len(line) <= MAX_JOURNAL_BYTES:
                os.pwrite(fd, line, end)
            else:  # the last writes that fit in half the limit (none after a cut), then this one
                kept = _lines(os.pread(fd, end, 0))[1 - KEEP :] if intact else []
                while kept and sum(map(len, kept)) + len(line) > MAX_JOURNAL_BYTES // 2:
                    del kept[0]
                data = b"".join([*kept, line])
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
                end = len(data) - len(line)
        except OSError as exc:  # readers then find no chain to this version and parse the file
            log.warning("could not record a write in %s (%s)", self.path, exc.strerror)
            return
        self._read_to = (list(after), end + len(line))

    def catch_up(self, document: Document, since: Stamp, to: Stamp) -> Document | None:
        """`document` (the version stamped `since`) brought to the version stamped `to`, or None."""
        at, goal = list(since), list(to)
        start = self._read_to[1] if self._read_to and self._read_to[0] == at else 0
        found = self._chain(at, goal, start)
        if found is None and start:
            found = self._chain(at, goal, 0)  # the file was rewritten or cleared since
        if found is None:
            return None
        chain, self._read_to = found[0], (goal, found[1])
        caught_up = document
        for changed in chain:
            caught_up = apply(caught_up, changed)
        return _marked(document, caught_up, chain)

    def _chain(
        self, at: list[int], goal: list[int], start: int
    ) -> tuple[list[list[list[Any]]], int] | None:
        """The changes from version `at` to `goal` in the lines from `start`, and the offset
        after the last one used; None without an unbroken chain.

        Each line starts with the stamp of the version it changes, so the first is found by a
        byte search: only the lines of the chain are checked and parsed."""
        try:
            data = os.pread(self._open(), MAX_JOURNAL_BYTES, start)
        except OSError:
            return None
        key = _key(at)
        first = 0 if data.startswith(key) else data.find(b"\n" + key) + 1
        if not first and not data.startswith(key):
            return None  # no line starts at version `at`
        chain: list[list[list[Any]]] = []
        offset = start + first
        for line in _lines(data[first:]):
            offset += len(line)
            entry = _entry(line)
            if entry is None or entry[0] != at:
                return None  # damaged, being rewritten right now, or not our chain
            chain.append(entry[2])
            at = entry[1]
            if at == goal:
                return chain, offset
        return None

    def clear(self) -> None:
        """Keep no write (under the store's lock)."""
        os.ftruncate(self._open(), 0)
        self._read_to = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def alone(self) -> bool:
        """True when no other process has the journal open: nobody holds a cached version for
        it to bring up to date, so a write need not work out what it changed.

        Every process holds a shared flock on the journal from the store's start; taking it
        exclusively succeeds only when no other process does. A process that starts after this
        check parses the file it finds, so it needs nothing from this write either.
        """
        try:
            fd = self._open()
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another process holds it
            # A conversion that fails has let go of the shared lock (flock(2)): without taking
            # it again, the others would think themselves alone and stop recording their writes.
            fcntl.flock(fd, fcntl.LOCK_SH)
            return False
        fcntl.flock(fd, fcntl.LOCK_SH)
        return True

    def open(self) -> None:
        """Open the journal and hold its shared lock, so writers know a reader is here."""
        with suppress(OSError):  # no home yet: the first write or read tries again
            self._open()

    def _open(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._fd = fd
        return self._fd


def _key(stamp: list[int]) -> bytes:
    return b"%d.%d.%d " % tuple(stamp)


def _line(entry: list[Any]) -> bytes:
    """`<stamp changed> <seal><entry>\n`."""
    payload = orjson.dumps(entry)  # never holds a raw newline
    return _key(entry[0]) + _seal(payload) + payload + b"\n"


def _lines(data: bytes) -> list[bytes]:
    """The complete lines of `data`, each with its newline (a last one still being written is
    left out)."""
    return data[: data.rfind(b"\n") + 1].splitlines(keepends=True)


def _entry(line: bytes) -> list[Any] | None:
    """[before, after, changes] from a line whose seal matches, else None."""
    sealed = line[line.find(b" ") + 1 :]
    seal, payload = sealed[:_SEAL_HEX], sealed[_SEAL_HEX:-1]
    if seal != _seal(payload):
        return None
    try:
        entry = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, list) and len(entry) == 3 else None


def _seal(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).hexdigest().encode()


def encoded_changes(changed: list[list[Any]], document_bytes: int) -> list[list[Any]] | None:
    """The changes, or None when they are too large a share of the document to be worth it."""
    size = len(orjson.dumps(changed))
    if size > MAX_CHANGE_BYTES or size * MAX_CHANGE_SHARE > document_bytes:
        return None
    return changed
