"""The settings document in PostgreSQL, shared by several replicas.

Each replica caches the document with its version. Every read asks the database for the version
in one round trip that also brings the rows changed since the cached one (a version check per
read, no LISTEN/NOTIFY): a read on any replica sees every write acknowledged before it started.

A write runs the change on the cached document, then writes only the rows it changed and bumps
the document version in one statement guarded by the cached version (`WHERE version = $n`): when
another replica wrote since, nothing lands, and the change runs once more on a fresh read while
the document row is held (`FOR UPDATE`), so its preconditions are checked against the latest
version. See docs/decisions.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from agent_server.document import Document, default_document
from agent_server.errors import StoreUnavailable
from agent_server.json_codec import dumps
from agent_server.secrets import SecretCipher
from agent_server.server_writes import LiveServers, pending_servers, settle
from agent_server.stores.base import Change
from agent_server.stores.layout import Kind, entries_of, join, rest_of, servers_of
from agent_server.stores.postgres_rows import Cached, Written, plan_rows
from agent_server.stores.postgres_schema import check_keys, ensure_schema
from agent_server.stores.postgres_sql import EMPTY, LOCK, READ, WRITE, WRITE_MANY, WRITE_ONE
from agent_server.stores.urls import redact_url

log = logging.getLogger(__name__)


class PostgresStore:
    """The settings document in PostgreSQL; knows SQL and JSON, not HTTP or secrets."""

    def __init__(self, url: str, *, max_connections: int = 4, timeout: float = 10.0) -> None:
        self.url = url
        self._where = redact_url(url)
        self._check_reachable(timeout)
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True},
            timeout=timeout,
            open=False,
            name="agent-server",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout:
            self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to the PostgreSQL store at {self._where} within {timeout:g}s"
            ) from None
        self._lock = threading.Lock()  # one write at a time
        self._writer: psycopg.Connection[tuple[Any, ...]] | None = None  # see _writer_connection
        self._apply = threading.RLock()  # one change of the cache at a time
        # (kind, name) -> the version this replica wrote the row at, beyond the cache's version
        self._seen: dict[tuple[str, str], int] = {}
        self._cached: Cached | None = None
        with self.connection() as conn:
            ensure_schema(conn)

    def _check_reachable(self, timeout: float) -> None:
        """StoreUnavailable at once, with libpq's reason, when the server cannot be reached or
        refuses us; the pool alone would retry until its timeout and say only that it timed out."""
        try:
            psycopg.connect(self.url, connect_timeout=max(1, int(timeout))).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            password = urlsplit(self.url).password
            if password:
                reason = reason.replace(password, "***")
            raise StoreUnavailable(
                f"cannot connect to the PostgreSQL store at {self._where}: {reason}"
            ) from None

    @property
    def where(self) -> str:
        return self._where

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection; database failures become StoreUnavailable (503), without the URL's
        password or any value from a row."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    @contextmanager
    def _writer_connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """The connection writes use, taken from the pool once and kept: writes queue on
        `_lock`, so they never need two, and a checkout and return per write cost about a tenth
        of a small write. A broken one goes back to the pool, which drops it."""
        conn = self._writer
        try:
            if conn is None or conn.closed:
                conn = self._writer = self._pool.getconn()
            yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if conn is not None:
                self._writer = None
                self._pool.putconn(conn)
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        log.error("PostgreSQL store at %s: %s", self._where, type(exc).__name__)
        return StoreUnavailable(f"the PostgreSQL store at {self._where} is unavailable; try again")

    def close(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._pool.putconn(self._writer)
                self._writer = None
        self._pool.close()

    def remove_stale_temp_files(self) -> int:
        return 0  # a transaction that dies leaves nothing behind

    def forget_history(self) -> None:
        """Nothing kept: a row holds its current config, a deleted entry's row none."""

    def read(self) -> Document:
        """The current document: one round trip that returns only what changed since the cache."""
        with self.connection() as conn:
            return self._refresh(conn).document

    async def write(self, change: Change) -> Document:
        """`update` from the event loop: inline when no other thread writes, else on a thread."""
        if self._lock.acquire(blocking=False):
            try:
                return self._update_locked(change)
            finally:
                self._lock.release()
        return await run_in_threadpool(self.update, change)

    def update(self, change: Change) -> Document:
        with self._lock:
            return self._update_locked(change)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the document row's lock: every replica's write waits until the block ends."""
        with self._lock, self.connection() as conn, conn.transaction():
            conn.execute(LOCK)
            yield

    def check_keys(self, etag_key: bytes, cipher: SecretCipher) -> None:
        from agent_server.config import ENV_ETAG_KEY, ENV_SECRET_KEY

        with self.connection() as conn:
            check_keys(conn, etag_key, cipher, ENV_ETAG_KEY, ENV_SECRET_KEY)

    def record_keys(self, etag_key: bytes, cipher: SecretCipher) -> None:
        """Make these keys the database's (after a migrate replaced its settings)."""
        with self.connection() as conn:
            conn.execute(
                "UPDATE agent_server_document SET etag_key_check = NULL, secret_key_check = NULL "
                "WHERE id = 1"
            )
        self.check_keys(etag_key, cipher)

    def is_empty(self) -> bool:
        """True while nothing was ever written, or what was written equals the defaults."""
        with self.connection() as conn:
            row = conn.execute(EMPTY).fetchone()
        if row is not None and row[0] == 0:
            return True
        return self.read() == default_document()

    def _update_locked(self, change: Change) -> Document:
        """Run `change` on the cached document and write it guarded by the cached version.

        The guard makes this first attempt safe without reading first: if any replica wrote
        since the cached version, nothing lands. Then, and whenever the change refuses (it may
        have judged a precondition on a stale cache) or changes nothing, it runs once more on a
        fresh read while holding the document row (`FOR UPDATE`), so every outcome is decided on
        the database's latest version and a write that lost a race never has to race again.
        """
        with self._writer_connection() as conn:
            if self._cached is not None:
                done = self._attempt(conn, self._cached, change, fresh=False)
                if done is not None:
                    return self._settle(done)
            with conn.transaction():
                conn.execute(LOCK)
                done = self._attempt(conn, self._refresh(conn), change, fresh=True)
            assert done is not None
            return self._settle(done)

    def _attempt(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        cached: Cached,
        change: Change,
        fresh: bool,
    ) -> Written | None:
        """What a write committed (or, fresh, decided without writing); None when a stale cache
        decided nothing."""
        try:
            new = change(cached.document)
        except Exception:
            if fresh:
                raise
            return None
        rows, rest = plan_rows(cached, new)
        if new is cached.document or rows.empty:
            return Written(new, cached, None, rows, rest) if fresh else None
        params = {
            "v": cached.version,
            "kinds": rows.kinds,
            "names": rows.names,
            "configs": rows.configs,
        }
        if rows.servers_only and not fresh:
            guard = cached.version
            if len(rows.names) == 1:
                guard = max(guard, self._seen.get((rows.kinds[0], rows.names[0]), guard))
                one = {"kind": rows.kinds[0], "name": rows.names[0], "config": rows.configs[0]}
                statement, params = WRITE_ONE, {"v": cached.version, "n": 1, **one}
            else:
                statement, params = WRITE_MANY, params | {"n": len(rows.names)}
            params["g"] = guard
            try:
                found = conn.execute(statement, params).fetchone()
            except psycopg.errors.SerializationFailure:
                return None  # one of these servers changed since: decide again, fresh
            if found is None:
                return None  # the rest of the document changed since
            return Written(new, cached, int(found[0]), rows, rest)
        params["set_rest"] = rows.rest is not None
        params["rest"] = dumps(rows.rest).decode() if rows.rest is not None else None
        found = conn.execute(WRITE, params).fetchone()
        if found is None:
            if fresh:  # cannot happen while the row is held; refuse rather than guess
                raise StoreUnavailable("the settings changed during a write; try again")
            return None
        return Written(new, cached, int(found[0]), rows, rest)

    def _settle(self, done: Written) -> Document:
        """Put a committed write into the cache; its document.

        Other replicas may have written between the version the change read and the one this
        write made, and a read may have brought some of that into the cache meanwhile: the
        cache then takes this write's rows on top of what it holds, keeps its version (the next
        read brings the rest), and remembers the version each row was written at, for the
        guard of this replica's next write of it.
        """
        if done.version is None:  # nothing written: what it left pending equals what is stored
            return done.base.document if pending_servers(done.new) else done.new
        with self._apply:
            current = self._cached
            if current is not None and current.version >= done.version:
                return current.document  # a read brought this write (or newer) in already
            if current is None or (current is done.base and done.version == current.version + 1):
                entry = Cached(done.version, self._owned(settle(done.new)), done.rest)
                self._install(entry)
            else:
                entries = done.entries()
                entry = self._with_rows(current, current.version, entries, done.rows.rest)
                self._cached = entry
                self._seen.update(((kind, name), done.version) for kind, name, _ in entries)
            return entry.document

    def _install(self, entry: Cached) -> None:
        """Make `entry` the cache; forget the rows' versions it now covers."""
        self._cached = entry
        if self._seen:
            self._seen = {row: v for row, v in self._seen.items() if v > entry.version}

    def _owned(self, document: Document) -> Document:
        """`document` with its servers as this store's LiveServers (copied once when not)."""
        servers = servers_of(document)
        if servers is None or (type(servers) is LiveServers and servers.owner is self):
            return document
        agent = document["agent_settings"]
        mcp = {**agent["mcp_config"], "mcpServers": LiveServers(servers, self)}
        return {**document, "agent_settings": {**agent, "mcp_config": mcp}}

    def _with_rows(
        self,
        base: Cached,
        version: int,
        changes: list[tuple[Kind, str, Any]],
        rest: Document | None,
    ) -> Cached:
        """`base` with entries set (or removed, for None) and maybe a new rest, at `version`.

        Servers that are only replaced change in place in base's LiveServers (see
        document.LiveServers); added or removed ones make a new collection. The document
        object is always a new one, so whatever is kept per document is made again.
        """
        servers = entries_of(base.document, "server")
        changed = [(name, config) for kind, name, config in changes if kind == "server"]
        in_place = type(servers) is LiveServers and servers.owner is self
        in_place = in_place and all(
            config is not None and name in servers for name, config in changed
        )
        entries: dict[Kind, dict[str, Any]] = {
            "server": servers if in_place else LiveServers(servers, self),
            "registry": dict(entries_of(base.document, "registry")),
        }
        for kind, name, config in changes:
            if config is None:
                entries[kind].pop(name, None)
            else:
                entries[kind][name] = config
        rest = base.rest if rest is None else rest
        return Cached(version, join(rest, entries), rest)

    def _refresh(self, conn: psycopg.Connection[tuple[Any, ...]]) -> Cached:
        """The cache brought up to the database's version: the rows changed since it, only."""
        with self._apply:
            cached = self._cached
            since = cached.version if cached is not None else -1
            rows = conn.execute(READ, {"v": since}).fetchall()
            head = next(row for row in rows if row[0] is None)
            version = int(head[2])
            if cached is not None and version == cached.version and len(rows) == 1:
                return cached
            if cached is not None and version < cached.version:
                self._cached, self._seen = None, {}  # the database was replaced (a restore)
                return self._refresh(conn)
            changes = [
                (kind, name, None if config is None else orjson.loads(config))
                for kind, name, _, config, _ in sorted(
                    (row for row in rows if row[0] is not None), key=lambda row: row[4]
                )
            ]
            if cached is None:
                document = orjson.loads(head[3]) if head[3] is not None else default_document()
                rest = rest_of(document)
                none: dict[Kind, dict[str, Any]] = {"server": LiveServers({}, self), "registry": {}}
                cached = Cached(-1, join(rest, none), rest)
                if head[3] is None:  # the defaults: their registries are in no row
                    defaults = entries_of(document, "registry").items()
                    changes[:0] = [("registry", name, config) for name, config in defaults]
            new_rest = orjson.loads(head[3]) if head[3] is not None else None
            entry = self._with_rows(cached, version, changes, new_rest)
            self._install(entry)
            return entry
