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
from contextlib import suppress
from pathlib import Path
from typing import Any

import orjson

from agent_server.document import Document

log = logging.getLogger(__name__)

JOURNAL_FILE = "settings.journal"
KEEP = 64  # the writes kept: a reader further behind than this parses the file
MAX_CHANGE_SHARE = 8  # a write whose changes encode to over 1/8 of the document is not recorded
MAX_CHANGE_BYTES = 256 * 1024  # nor one whose changes encode to more than this
MAX_JOURNAL_BYTES = 1024 * 1024  # the oldest writes are dropped to keep the file under this
_SEAL_BYTES = 33  # 32 hex digits of the payload's hash and a newline

Stamp = tuple[int, int, int]
Path_ = list[str]
_MISSING = object()


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
        elif before is _MISSING or before != value:
            found.append([[*path, key], value])
    found += [[[*path, key]] for key in old if key not in new]
    return found


def apply(document: Document, changed: list[list[Any]]) -> Document:
    """A new document: `document` with the changes made, sharing every part they do not touch."""
    top: dict[str, Any] = dict(document)
    copied: set[tuple[str, ...]] = {()}
    for change in changed:
        keys = change[0]
        node = top
        for depth, key in enumerate(keys[:-1]):
            prefix = tuple(keys[: depth + 1])
            child = node.get(key)
            if not isinstance(child, dict):
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


class Journal:
    """The journal file of one home. `record` runs under the store's lock; `catch_up` without.

    The file is rewritten in place (pwrite, then truncate) through one open descriptor: on ext4
    a temp file renamed over it, or a truncate before the write, makes the kernel flush it at
    once and cost more than the rest of a small write. A reader may therefore see a write half
    done, so the content carries its own hash and a reader that finds it wrong ignores it.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / JOURNAL_FILE
        self._fd: int | None = None

    def record(self, before: Stamp | None, after: Stamp, changed: list[list[Any]] | None) -> None:
        """Add one write; `changed` None: too large to record (the chain breaks there)."""
        entries = self._entries()
        if before is None or changed is None or (entries and entries[-1][1] != list(before)):
            entries = []  # the chain is broken here: readers behind this point parse the file
        if changed is not None and before is not None:
            entries.append([list(before), list(after), changed])
        try:
            self._write(entries[-KEEP:])
        except OSError as exc:  # readers then find no chain to this version and parse the file
            log.warning("could not record a write in %s (%s)", self.path, exc.strerror)

    def _write(self, entries: list[list[Any]]) -> None:
        """The entries, sealed, the oldest dropped while they exceed MAX_JOURNAL_BYTES."""
        data = _sealed(entries)
        while len(data) > MAX_JOURNAL_BYTES and len(entries) > 1:
            entries = entries[len(entries) // 2 :]
            data = _sealed(entries)
        fd = self._open()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    def catch_up(self, document: Document, since: Stamp, to: Stamp) -> Document | None:
        """`document` (the version stamped `since`) brought to the version stamped `to`, or None."""
        chain: list[list[Any]] = []
        at = list(since)
        for before, after, changed in self._entries():
            if chain or before == at:
                if before != at:
                    return None
                chain.append(changed)
                at = after
                if at == list(to):
                    break
        if at != list(to) or not chain:
            return None
        for changed in chain:
            document = apply(document, changed)
        return document

    def clear(self) -> None:
        """Keep no write (under the store's lock)."""
        self._write([])

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
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another process holds it
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

    def _entries(self) -> list[list[Any]]:
        try:
            data = os.pread(self._open(), MAX_JOURNAL_BYTES + _SEAL_BYTES, 0)
        except OSError:
            return []
        seal, payload = data[:_SEAL_BYTES], data[_SEAL_BYTES:]
        if not payload or seal != _seal(payload):
            return []  # empty, damaged, or being rewritten right now
        try:
            entries = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return []
        return entries if isinstance(entries, list) else []


def _seal(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=16).hexdigest().encode() + b"\n"


def _sealed(entries: list[list[Any]]) -> bytes:
    payload = orjson.dumps(entries)
    return _seal(payload) + payload


def encoded_changes(changed: list[list[Any]], document_bytes: int) -> list[list[Any]] | None:
    """The changes, or None when they are too large a share of the document to be worth it."""
    size = len(orjson.dumps(changed))
    if size > MAX_CHANGE_BYTES or size * MAX_CHANGE_SHARE > document_bytes:
        return None
    return changed
