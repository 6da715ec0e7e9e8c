"""The PostgreSQL store's tables, created or migrated at start under an advisory lock.

Replicas that start at once all take the same transaction-scoped advisory lock: the first creates
the tables and records it in agent_server_schema_log, the others wait, then find them made.
"""

from __future__ import annotations

import hashlib
import hmac

import psycopg

from agent_server.errors import ConfigError
from agent_server.secrets import SecretCipher

SCHEMA_VERSION = 1
# pg_advisory_xact_lock key: "agentsrv" as a big-endian 64-bit integer, unlikely to collide.
LOCK_KEY = int.from_bytes(b"agentsrv", "big") - (1 << 63)
_CHECK_TEXT = "agent-server key check"

_CREATE = [
    """CREATE TABLE agent_server_schema_log (
        version integer NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        applied_by text NOT NULL DEFAULT current_user)""",
    # One row: the document without its servers and registries, and the document's version,
    # which every write bumps. rest is NULL until the first write (the defaults are served).
    """CREATE TABLE agent_server_document (
        id integer PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL,
        rest json,
        rest_version bigint NOT NULL DEFAULT 0,
        etag_key_check text,
        secret_key_check text)""",
    # One row per MCP server and per registry: the stored config exactly as written (json keeps
    # the text, so tokens stay byte for byte), or NULL for a deleted one (kept as a tombstone so
    # another replica learns of the deletion), and the document version that last wrote it.
    """CREATE TABLE agent_server_entries (
        kind text NOT NULL CHECK (kind IN ('server', 'registry')),
        name text NOT NULL,
        config json,
        version bigint NOT NULL,
        seq bigserial NOT NULL,
        PRIMARY KEY (kind, name))""",
    "CREATE INDEX agent_server_entries_version ON agent_server_entries (version)",
    # What an entry write calls when an entry it writes changed since the version it read: the
    # error undoes the whole statement (the version bump included).
    """CREATE FUNCTION agent_server_conflict() RETURNS bigint LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'an entry changed since it was read' USING ERRCODE = '40001';
        END $$""",
    "INSERT INTO agent_server_document (id, version) VALUES (1, 0)",
]


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the tables when missing (once, whoever starts first); refuse a newer schema."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        exists = conn.execute("SELECT to_regclass('agent_server_schema_log')").fetchone()
        if exists is None or exists[0] is None:
            for statement in _CREATE:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO agent_server_schema_log (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
            return
        row = conn.execute("SELECT max(version) FROM agent_server_schema_log").fetchone()
        found = row[0] if row else None
        if isinstance(found, int) and found > SCHEMA_VERSION:
            raise ConfigError(
                f"the database holds schema version {found}, newer than this server's "
                f"({SCHEMA_VERSION}): upgrade agent-server; nothing was changed"
            )


def etag_key_check(etag_key: bytes) -> str:
    """A keyed hash that tells whether two replicas hold the same ETag key, without telling it."""
    return hmac.new(etag_key, _CHECK_TEXT.encode(), hashlib.sha256).hexdigest()


def check_keys(
    conn: psycopg.Connection[tuple[object, ...]],
    etag_key: bytes,
    cipher: SecretCipher,
    etag_variable: str,
    secret_variable: str,
) -> None:
    """Refuse a replica whose keys differ from those the database was written with.

    The first replica records a keyed hash of its ETag key and a token of its secret key; every
    later one must match the hash and open the token (with its current or a previous key), so a
    replica with a wrong key stops before it writes anything. The token is sealed again under
    the current key once it opens only with a previous one, as rotate-key leaves it.
    """
    with conn.transaction():
        row = conn.execute(
            "SELECT etag_key_check, secret_key_check FROM agent_server_document "
            "WHERE id = 1 FOR UPDATE"
        ).fetchone()
        assert row is not None
        etag_check, secret_check = row
        expected = etag_key_check(etag_key)
        if etag_check is not None and not hmac.compare_digest(str(etag_check), expected):
            raise ConfigError(
                f"{etag_variable} is not the ETag key this database's other replicas use: every "
                "replica needs the same one (ETags must match whichever replica answers); "
                "nothing was changed"
            )
        if secret_check is not None and cipher.open(str(secret_check)) != _CHECK_TEXT:
            raise ConfigError(
                f"{secret_variable} does not open the secrets in this database: set it to the "
                "key the other replicas use (or add that key to "
                "AGENT_SERVER_PREVIOUS_SECRET_KEYS); nothing was changed"
            )
        if etag_check is None or secret_check is None or not cipher.is_current(str(secret_check)):
            conn.execute(
                "UPDATE agent_server_document SET etag_key_check = %s, secret_key_check = %s "
                "WHERE id = 1",
                (expected, cipher.encrypt(_CHECK_TEXT)),
            )
