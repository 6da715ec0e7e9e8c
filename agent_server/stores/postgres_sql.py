"""The statements the PostgreSQL store reads and writes with (the schema is postgres_schema's).

READ brings the document's version and every entry changed since the one a replica holds, in one
round trip. WRITE lands a change guarded by the whole document's version; WRITE_ONE and
WRITE_MANY land a write of a few entries guarded by those entries' rows only. See
docs/decisions.md.
"""

from __future__ import annotations

READ = """
SELECT NULL::text, NULL::text, version,
       CASE WHEN version <> %(v)s THEN rest::text END, 0::bigint
  FROM agent_server_document WHERE id = 1
UNION ALL
SELECT kind, name, version, config::text, seq
  FROM agent_server_entries WHERE version > %(v)s AND (config IS NOT NULL OR %(v)s >= 0)
"""

# The changed entries as rows: from three arrays, in order, or (`_ONE`) one entry's values.
_MANY = """
  SELECT u.k, u.n, u.c::json, bump.version
    FROM bump, unnest(%(kinds)b::text[], %(names)b::text[], %(configs)b::text[])
         WITH ORDINALITY AS u(k, n, c, i)
   ORDER BY u.i"""
_ONE = """
  SELECT %(kind)s, %(name)s, %(config)s::json, bump.version FROM bump"""

# The changed entries, upserted at the bumped version (`{guard}`: an optional WHERE of the update).
_UPSERT = """
  INSERT INTO agent_server_entries AS e (kind, name, config, version){rows}
  ON CONFLICT (kind, name) DO UPDATE
     SET config = excluded.config, version = excluded.version,
         seq = CASE WHEN e.config IS NULL THEN excluded.seq ELSE e.seq END
   {guard}
  RETURNING 1
"""

# A write guarded by the whole document's version: nothing lands if anyone wrote since.
WRITE = f"""
WITH bump AS (
  UPDATE agent_server_document
     SET version = version + 1,
         rest = CASE WHEN %(set_rest)s THEN %(rest)s::json ELSE rest END,
         rest_version = CASE WHEN %(set_rest)s THEN version + 1 ELSE rest_version END
   WHERE id = 1 AND version = %(v)s
  RETURNING version
), changed AS ({_UPSERT.format(rows=_MANY, guard="")})
SELECT version, (SELECT count(*) FROM changed) FROM bump
"""

# A write of a few servers, guarded by those servers' rows and the rest of the document only:
# it lands although other servers changed since the version it read (`g`: that version, or the
# one this replica last wrote the server's row at). ON CONFLICT DO UPDATE
# checks each row's latest committed version (not the statement's snapshot), and waits for a
# writer of the same row, so a row written since makes the count short: the statement then
# raises and nothing of it lands. Every writer takes the document row first, so they queue there.
_WRITE_ENTRIES = """
WITH bump AS (
  UPDATE agent_server_document SET version = version + 1
   WHERE id = 1 AND rest_version <= %(v)s
  RETURNING version
), changed AS ({upsert})
SELECT CASE WHEN (SELECT count(*) FROM changed) = %(n)s THEN version
            ELSE agent_server_conflict() END
  FROM bump
"""
_GUARD = "WHERE e.version <= %(g)s"
WRITE_MANY = _WRITE_ENTRIES.format(upsert=_UPSERT.format(rows=_MANY, guard=_GUARD))
WRITE_ONE = _WRITE_ENTRIES.format(upsert=_UPSERT.format(rows=_ONE, guard=_GUARD))  # most writes

EMPTY = "SELECT version FROM agent_server_document WHERE id = 1"
LOCK = "SELECT version FROM agent_server_document WHERE id = 1 FOR UPDATE"
