"""The settings file: one JSON document on disk, read without a lock, written under one.

Writers in every process serialize on a lock file beside settings.json and write a temp file
that is fsynced and renamed over it, so a reader sees the old document or the new one, never a
mix. Each process caches the document and checks it against the file's stat on every read; when
another process has written, the journal (journal.py) usually brings the cached document up to
date without parsing the file again. The cached document keeps no parsed server: its servers are
read from the file's kept encoding (encoded.py) when asked for (agent_server.stored_servers).

Every version gets a strictly increasing mtime (set by the writer under the lock), so the stat
(inode, size, mtime) names one version even on a busy file where an inode is reused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agent_server.document import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    Document,
    default_document,
    default_registries,
)
from agent_server.durable import Data, write_private_file
from agent_server.errors import StoreUnavailable
from agent_server.json_codec import dumps
from agent_server.stores.encoded import EncodedDocument, encode
from agent_server.stores.journal import Journal, changes, encoded_changes
from agent_server.stores.process_lock import ProcessLock

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
MAX_BATCH = 64  # queued writes applied and written in one turn of the lock
_Stamp = tuple[int, int, int]


def encode_document(document: Document) -> bytes:
    return dumps(document)


@dataclass
class _Queued:
    """A write waiting for the locks, and where its caller waits for the document it left."""

    change: Callable[[Document], Document]
    done: asyncio.Future[Document]


def _fail(queued: list[_Queued], exc: Exception) -> None:
    for one in queued:
        if not one.done.done():
            one.done.set_exception(exc)


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _parse(data: bytes) -> Any:
    """The standard library's parse, not orjson's, though orjson's is faster: the store keeps
    only the file's encoding and lets the parsed servers go, and orjson keeps the keys it made
    (server names among them) in a cache of its own, where, spread over the parse's memory, they
    kept all of it from being given back (docs/decisions.md, "Memory at ten thousand servers")."""
    return json.loads(data)


def _own_outer(encoded: EncodedDocument) -> EncodedDocument:
    """The loaded encoding, whose document holds nothing made by the parse: its outer part
    parsed again from its own encoding, its servers read from the encoding
    (agent_server.stored_servers)."""
    outer = orjson.loads(encoded.head + encoded.tail)
    return encoded.holding(outer)


def _check_document(value: Any) -> Document:
    """The top-level shape of a settings document, with defaults for missing sections.

    A version 1 document (from before registries) reads as version 2 with the default
    registries, so its first write upgrades the file; every other top-level key is kept.
    """
    if not isinstance(value, dict):
        raise ValueError("it is not a JSON object")
    version = value.get("schema_version", SCHEMA_VERSION)
    if version not in READABLE_VERSIONS:
        readable = " or ".join(map(str, READABLE_VERSIONS))
        raise ValueError(f"its schema_version is {version!r}; this server reads {readable}")
    document = {**value, **default_document()}
    sections = ["agent_settings", "misc_settings"]
    if version == SCHEMA_VERSION:
        sections.append("mcp_registries")
    else:
        document["mcp_registries"] = default_registries()
    for section in sections:
        if section in value:
            if not isinstance(value[section], dict):
                raise ValueError(f"its {section} is not a JSON object")
            document[section] = value[section]
    _check_servers(document["agent_settings"])
    for registry_id, registry in document["mcp_registries"].items():
        if not isinstance(registry, dict):
            raise ValueError(f"its registry {registry_id!r} is not a JSON object")
    return document


def _check_servers(agent: dict[str, Any]) -> None:
    """The shapes every read relies on: mcp_config, mcpServers and each server are objects."""
    if "mcp_config" not in agent:
        return
    mcp = agent["mcp_config"]
    if not isinstance(mcp, dict):
        raise ValueError("its agent_settings.mcp_config is not a JSON object")
    servers = mcp.get("mcpServers", {})
    if not isinstance(servers, dict):
        raise ValueError("its agent_settings.mcp_config.mcpServers is not a JSON object")
    for name, server in servers.items():
        if not isinstance(server, dict):
            raise ValueError(f"its MCP server {name!r} is not a JSON object")


class SettingsStore:
    """Reads and writes `<home>/settings.json`; knows files and JSON, not HTTP or secrets."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / SETTINGS_FILE
        self._file_lock = ProcessLock(home / f"{SETTINGS_FILE}.lock")
        self._journal = Journal(home)
        self._journal.open()
        self._thread_lock = threading.Lock()
        self._cached: tuple[_Stamp | None, Document] | None = None
        self._encoded: EncodedDocument | None = None  # of the last document this store wrote
        self._queue: list[_Queued] = []  # writes of this process waiting for the locks
        self._drainer: asyncio.Task[None] | None = None  # the task that writes them
        self._waiter: ThreadPoolExecutor | None = None  # the thread that waits for the locks

    def remove_stale_temp_files(self) -> int:
        """Remove temp files that writes killed mid-way left behind; the count removed.

        Under the lock: a writer holds it for as long as its temp file exists, so none that is
        in use can be touched.
        """
        removed = 0
        with self.locked():
            for stale in self.home.glob(f".{SETTINGS_FILE}.*.tmp"):
                stale.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.warning("removed %d temp file(s) left by interrupted writes", removed)
        return removed

    def read(self) -> Document:
        """The current document (shared: callers must not mutate it). Takes no lock."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._remember(None, default_document())
        except OSError as exc:
            raise self._unavailable(f"it cannot be read ({exc.strerror})") from exc
        cached = self._cached
        stamp = _stamp(st)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if cached is not None and cached[0] is not None:
            caught_up = self._journal.catch_up(cached[1], cached[0], stamp)
            if caught_up is not None:
                return self._remember(stamp, caught_up)
        return self._load()

    async def write(self, change: Callable[[Document], Document]) -> Document:
        """`update` from the event loop, which runs it; a thread only waits for the locks.

        A write runs on the loop: handing it to a thread and back costs about a quarter of a
        millisecond, the encoding holds the GIL either way, and a thread holding the file lock
        had to win the GIL back from the busy loop after each of its system calls, keeping
        every other worker waiting meanwhile.

        When another thread or process holds a lock, the write joins this process's queue and
        one task waits for the locks on a worker thread (the loop keeps serving meanwhile), then
        applies every queued change in order and writes the result once: with several workers,
        the writes that queued up behind another worker's share one file write and one turn of
        the lock instead of taking a turn each.
        """
        if not self._queue and self._try_lock():
            try:
                return self._update_locked(change)
            finally:
                self._unlock()
        queued = _Queued(change, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await queued.done

    async def _drain(self) -> None:
        """Write what is queued, a batch per turn of the locks, until nothing is."""
        try:
            while self._queue:
                await self._wait_for_locks()
                try:
                    batch = [q for q in self._queue[:MAX_BATCH] if not q.done.done()]
                    del self._queue[:MAX_BATCH]
                    self._update_batch(batch)
                finally:
                    self._unlock()
        except BaseException as exc:
            failed, self._queue = self._queue, []
            _fail(failed, StoreUnavailable("the write was interrupted; try again"))
            if not isinstance(exc, Exception):
                raise
            log.exception("the queued writes failed")
        finally:
            self._drainer = None

    async def _wait_for_locks(self) -> None:
        """Take both locks on this store's own waiting thread (the loop keeps serving)."""
        if self._waiter is None:
            self._waiter = ThreadPoolExecutor(1, thread_name_prefix="settings-lock")
        waiting = asyncio.get_running_loop().run_in_executor(self._waiter, self._lock)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the locks still come: let them go when they do
            waiting.add_done_callback(lambda done: done.exception() or self._unlock())
            raise

    def _try_lock(self) -> bool:
        if not self._thread_lock.acquire(blocking=False):
            return False
        if not self._file_lock.acquire(blocking=False):
            self._thread_lock.release()
            return False
        return True

    def _lock(self) -> None:
        self._thread_lock.acquire()
        try:
            self._file_lock.acquire()
        except BaseException:
            self._thread_lock.release()
            raise

    def _unlock(self) -> None:
        self._file_lock.release()
        self._thread_lock.release()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the write lock: no write of any process lands while the block runs."""
        with self._thread_lock, self._file_lock:
            yield

    def update(self, change: Callable[[Document], Document]) -> Document:
        """Apply `change` to the current document under the lock and durably write the result.

        `change` returns a new document (or the same object for no change) and may raise to
        abort: then nothing is written.
        """
        with self.locked():
            return self._update_locked(change)

    def forget_history(self) -> None:
        """Empty the journal: the values it holds stay only in settings.json."""
        with self.locked():
            self._journal.clear()

    def _update_locked(self, change: Callable[[Document], Document]) -> Document:
        current = self.read()
        new = change(current)
        self._commit(current, [new])
        return new

    def _update_batch(self, batch: list[_Queued]) -> None:
        """Each queued change applied to the document the one before it left, written once.

        A change that raises fails only its own write (as it would alone); the others go on from
        the document before it. Every write that changed something is answered once the file
        holding it is durable.
        """
        try:
            current = self.read()
        except Exception as exc:
            _fail(batch, exc)
            return
        document, versions, applied = current, [], []
        for queued in batch:
            try:
                new = queued.change(document)
            except Exception as exc:
                queued.done.set_exception(exc)
                continue
            if new is not document:
                versions.append(new)
                document = new
            applied.append((queued, new))
        try:
            self._commit(current, versions)
        except Exception as exc:
            _fail([queued for queued, _ in applied], exc)
            return
        for queued, new in applied:
            queued.done.set_result(new)

    def _commit(self, current: Document, versions: list[Document]) -> None:
        """Durably write the last of `versions`, each made from the one before, the first from
        `current` (nothing when there is none or the last is `current`)."""
        new = versions[-1] if versions else current
        if new is current:
            return
        previous = self._cached[0] if self._cached else None
        encoded = self._encoded
        if encoded is not None and encoded.document is not current:
            encoded = encoded.followed_by(current)  # through what other processes wrote since
        for version in versions:  # each step re-encodes only the servers it changed
            if encoded is None:
                break
            encoded = encoded.followed_by(version)
        if encoded is None:
            encoded = encode(new)
        data: Data = encoded.buffers() if encoded is not None else encode_document(new)
        size = encoded.size if encoded is not None else len(data)

        def record(st: os.stat_result) -> None:  # what changed, for the other processes
            if not self._journal.alone():
                found = encoded_changes(changes(current, new), size)
                self._journal.record(previous, _stamp(st), found)

        st = write_private_file(
            self.path, data, after_ns=previous[2] if previous else 0, before_rename=record
        )
        if encoded is not None:
            encoded = encoded.holding(new)
        self._encoded = encoded
        self._remember(_stamp(st), encoded.document if encoded is not None else new)

    def _load(self) -> Document:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
                stamp = _stamp(os.fstat(f.fileno()))
        except FileNotFoundError:
            return self._remember(None, default_document())
        except OSError as exc:
            raise self._unavailable(f"it cannot be read ({exc.strerror})") from exc
        try:
            document = _check_document(_parse(data))
            del data
            encoded = encode(document)
            if encoded is not None:
                encoded = _own_outer(encoded)
                document = encoded.document
        except (UnicodeDecodeError, RecursionError):
            raise self._unavailable("it is not valid UTF-8 JSON") from None
        except json.JSONDecodeError as exc:
            problem = f"it is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            raise self._unavailable(problem) from None
        except ValueError as exc:
            raise self._unavailable(f"it is not a settings document: {exc}") from None
        self._encoded = encoded
        return self._remember(stamp, document)

    def _remember(self, stamp: _Stamp | None, document: Document) -> Document:
        self._cached = (stamp, document)
        return document

    def _unavailable(self, problem: str) -> StoreUnavailable:
        log.error("settings file %s: %s; it will not be overwritten", self.path, problem)
        return StoreUnavailable(
            f"settings.json is unusable: {problem}. Fix or restore the file; "
            "the server will not overwrite it"
        )
