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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from agent_server.document import Document, ServersChange, default_document
from agent_server.errors import StoreUnavailable
from agent_server.json_codec import dumps
from agent_server.secrets import SecretCipher
from agent_server.stores.base import Change
from agent_server.stores.layout import KINDS, Kind, entries_of, join, rest_of
from agent_server.stores.postgres_schema import check_keys, ensure_schema
from agent_server.stores.urls import redact_url

log = logging.getLogger(__name__)


_READ = """
SELECT NULL::text, NULL::text, version,
       CASE WHEN version <> %(v)s THEN rest::text END, 0::bigint
  FROM agent_server_document WHERE id = 1
UNION ALL
SELECT kind, name, version, config::text, seq
  FROM agent_server_entries WHERE version > %(v)s AND (config IS NOT NULL OR %(v)s >= 0)
"""

# The changed entries, upserted at the bumped version (`{guard}`: an optional WHERE of the update).
_UPSERT = """
  INSERT INTO agent_server_entries AS e (kind, name, config, version)
  SELECT u.k, u.n, u.c::json, bump.version
    FROM bump, unnest(%(kinds)s::text[], %(names)s::text[], %(configs)s::text[])
         WITH ORDINALITY AS u(k, n, c, i)
   ORDER BY u.i
  ON CONFLICT (kind, name) DO UPDATE
     SET config = excluded.config, version = excluded.version,
         seq = CASE WHEN e.config IS NULL THEN excluded.seq ELSE e.seq END
   {guard}
  RETURNING 1
"""

# A write guarded by the whole document's version: nothing lands if anyone wrote since.
_WRITE = f"""
WITH bump AS (
  UPDATE agent_server_document
     SET version = version + 1,
         rest = CASE WHEN %(set_rest)s THEN %(rest)s::json ELSE rest END,
         rest_version = CASE WHEN %(set_rest)s THEN version + 1 ELSE rest_version END
   WHERE id = 1 AND version = %(v)s
  RETURNING version
), changed AS ({_UPSERT.format(guard="")})
SELECT version, (SELECT count(*) FROM changed) FROM bump
"""

# A write of a few servers, guarded by those servers' rows and the rest of the document only:
# it lands although other servers changed since the version it read. ON CONFLICT DO UPDATE
# checks each row's latest committed version (not the statement's snapshot), and waits for a
# writer of the same row, so a row written since makes the count short: the statement then
# raises and nothing of it lands. Every writer takes the document row first, so they queue there.
_WRITE_ENTRIES = f"""
WITH bump AS (
  UPDATE agent_server_document SET version = version + 1
   WHERE id = 1 AND rest_version <= %(v)s
  RETURNING version
), changed AS ({_UPSERT.format(guard="WHERE e.version <= %(v)s")})
SELECT CASE WHEN (SELECT count(*) FROM changed) = %(n)s THEN version
            ELSE agent_server_conflict() END
  FROM bump
"""

_EMPTY = "SELECT version FROM agent_server_document WHERE id = 1"
_LOCK = "SELECT version FROM agent_server_document WHERE id = 1 FOR UPDATE"


@dataclass(frozen=True)
class _Cached:
    version: int
    document: Document
    rest: Document


@dataclass
class _Rows:
    """What a write sends: the changed entries (None config for a deleted one), maybe the rest;
    `servers_only` when it is a few servers a ServersChange named, and nothing else."""

    kinds: list[str]
    names: list[str]
    configs: list[str | None]
    rest: Document | None
    servers_only: bool = False

    @property
    def empty(self) -> bool:
        return not self.names and self.rest is None


def _marked_names(
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


def _changed_names(
    old: dict[str, Any], new: dict[str, Any], marked: frozenset[str] | None
) -> list[str]:
    """Names whose entry is new, replaced or removed: from the change's own record when it has
    one, else by comparing every entry (a whole-document PATCH)."""
    if new is old:
        return []
    if marked is not None:
        return [name for name in marked if new.get(name) is not old.get(name)]
    changed = [name for name, value in new.items() if old.get(name) is not value]
    if len(new) - sum(1 for name in changed if name not in old) != len(old):
        changed.extend(name for name in old if name not in new)
    return changed


def plan_rows(cached: _Cached, new: Document) -> tuple[_Rows, Document]:
    """The rows that turn the cached document into `new`, and `new`'s rest."""
    rows = _Rows([], [], [], None)
    written = cached.version > 0  # at version 0 the defaults are served, no row holds them
    marked_only = True
    for kind in KINDS:
        old_entries = entries_of(cached.document, kind) if written else {}
        new_entries = entries_of(new, kind)
        marked = _marked_names(new, old_entries, new_entries) if kind == "server" else None
        if kind == "server":
            marked_only = marked is not None
        for name in _changed_names(old_entries, new_entries, marked):
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
        self._lock = threading.Lock()
        self._cached: _Cached | None = None
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
            log.error("PostgreSQL store at %s: %s", self._where, type(exc).__name__)
            raise StoreUnavailable(
                f"the PostgreSQL store at {self._where} is unavailable; try again"
            ) from None

    def close(self) -> None:
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
            conn.execute(_LOCK)
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
            row = conn.execute(_EMPTY).fetchone()
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
        with self.connection() as conn:
            if self._cached is not None:
                done = self._attempt(conn, self._cached, change, fresh=False)
                if done is not None:
                    return self._settle(done)
            with conn.transaction():
                conn.execute(_LOCK)
                done = self._attempt(conn, self._refresh(conn), change, fresh=True)
            assert done is not None
            return self._settle(done)

    def _attempt(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        cached: _Cached,
        change: Change,
        fresh: bool,
    ) -> tuple[Document, _Cached | None] | None:
        """(the document, the cache entry it makes) or None when a stale cache decided nothing."""
        try:
            new = change(cached.document)
        except Exception:
            if fresh:
                raise
            return None
        rows, rest = plan_rows(cached, new)
        if new is cached.document or rows.empty:
            return (new, None) if fresh else None
        params = {
            "v": cached.version,
            "kinds": rows.kinds,
            "names": rows.names,
            "configs": rows.configs,
        }
        if rows.servers_only and not fresh:
            try:
                found = conn.execute(_WRITE_ENTRIES, {**params, "n": len(rows.names)}).fetchone()
            except psycopg.errors.SerializationFailure:
                return None  # one of these servers changed since: decide again, fresh
            if found is None:
                return None  # the rest of the document changed since
            version = int(found[0])
            if version == cached.version + 1:
                return new, _Cached(version, new, rest)
            # Other servers changed in between: the cache keeps its version (with this write in
            # it) and reads the rows written since, this write's included, right away, so the
            # next write of the same server is not refused by its own row's newer version.
            self._cached = _Cached(cached.version, new, rest)
            self._refresh(conn)
            return new, None
        params["set_rest"] = rows.rest is not None
        params["rest"] = dumps(rows.rest).decode() if rows.rest is not None else None
        found = conn.execute(_WRITE, params).fetchone()
        if found is None:
            if fresh:  # cannot happen while the row is held; refuse rather than guess
                raise StoreUnavailable("the settings changed during a write; try again")
            return None
        return new, _Cached(int(found[0]), new, rest)

    def _settle(self, done: tuple[Document, _Cached | None]) -> Document:
        """Remember what a committed write made; its document."""
        new, cached = done
        if cached is not None:
            self._cached = cached
        return new

    def _refresh(self, conn: psycopg.Connection[tuple[Any, ...]]) -> _Cached:
        cached = self._cached
        since = cached.version if cached is not None else -1
        rows = conn.execute(_READ, {"v": since}).fetchall()
        head = next(row for row in rows if row[0] is None)
        version = int(head[2])
        if cached is not None and version == cached.version and len(rows) == 1:
            return cached
        if cached is not None and version < cached.version:
            self._cached = None  # the database was replaced (a restore, a forced migrate)
            return self._refresh(conn)
        changes = sorted((row for row in rows if row[0] is not None), key=lambda row: row[4])
        if cached is None:
            rest = orjson.loads(head[3]) if head[3] is not None else default_document()
            entries: dict[Kind, dict[str, Any]] = {"server": {}, "registry": {}}
            if head[3] is None:
                entries["registry"] = entries_of(rest, "registry")
                rest = rest_of(rest)
        else:
            rest = orjson.loads(head[3]) if head[3] is not None else cached.rest
            entries = {kind: dict(entries_of(cached.document, kind)) for kind in KINDS}
        for kind, name, _, config, _ in changes:
            if config is None:
                entries[kind].pop(name, None)
            else:
                entries[kind][name] = orjson.loads(config)
        fresh = _Cached(version, join(rest, entries), rest)
        current = self._cached
        if current is None or current.version <= version:  # a slower reader never rolls back
            self._cached = fresh
        return fresh
