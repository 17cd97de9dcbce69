"""The schema fingerprint: one cheap query whose value changes whenever DDL touches the watched
schemas, so the daemon can skip the full comparison when nothing moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import TableClause

# text[] rather than name[]: asyncpg knows text[] and sends the query without first asking the
# server what the parameter's type is; ORDER BY ... COLLATE "C" sorts bytes, faster than the
# database's collation and the same value whatever that collation is. Plain joins on
# pg_namespace, not IN (a CTE): a CTE has no statistics, and the planner once looped over
# one for every comment (1.3 s instead of 0.13 s at 3000 tables)
PG_FINGERPRINT = """
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x COLLATE "C"), '')) FROM (
  SELECT 'n' || n.oid || ':' || n.xmin FROM pg_namespace n
    WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 'c' || c.oid || ':' || c.xmin FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(CAST(:schemas AS text[])) AND a.attnum > 0
  UNION ALL
  SELECT 'i' || i.indexrelid || ':' || i.xmin FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 'k' || k.oid || ':' || k.xmin FROM pg_constraint k
    JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 'd' || d.oid || ':' || d.xmin FROM pg_attrdef d
    JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 't' || t.oid || ':' || t.xmin FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  SELECT 'e' || e.oid || ':' || e.xmin FROM pg_enum e
    JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  UNION ALL
  -- comments live in pg_description, which a COMMENT ON changes without touching pg_class
  SELECT 'm' || d.objoid || '.' || d.objsubid || ':' || d.xmin FROM pg_description d
    JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(CAST(:schemas AS text[]))
) AS catalog(x)
"""

MYSQL_FINGERPRINT = """
SELECT COUNT(*), COALESCE(SUM(CRC32(x)), 0),
       COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(MD5(x), 1, 16), 16, 10) AS UNSIGNED)), 0)
FROM (
  SELECT CONCAT_WS('|', 't', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT,
                   COALESCE(TABLE_COLLATION, '')) AS x
    FROM information_schema.TABLES WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'c', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION,
                   COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '<none>'), EXTRA,
                   COLUMN_COMMENT, COALESCE(COLLATION_NAME, ''))
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 's', TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX,
                   COALESCE(COLUMN_NAME, ''), NON_UNIQUE, COALESCE(SUB_PART, ''), INDEX_TYPE)
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'r', CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME,
                   COALESCE(UNIQUE_CONSTRAINT_NAME, ''), UPDATE_RULE, DELETE_RULE,
                   REFERENCED_TABLE_NAME)
    FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'u', TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME,
                   ORDINAL_POSITION, COALESCE(REFERENCED_TABLE_SCHEMA, ''),
                   COALESCE(REFERENCED_TABLE_NAME, ''), COALESCE(REFERENCED_COLUMN_NAME, ''))
    FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  -- CHECK constraints (and the others, by name and type)
  SELECT CONCAT_WS('|', 'k', TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE)
    FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA IN :schemas
) AS catalog
"""


# Whether a migration is running (PostgreSQL): another session holds, or waits for, a lock
# on the version table, and either writes it (RowExclusiveLock or stronger: alembic's UPDATE
# of the version row, held until its transaction commits) or also holds an
# AccessExclusiveLock on a lasting relation of a watched schema (alembic reads the version
# table at the start of its transaction, so its first migration's ALTER TABLE shows before
# the version row is written).
#
# Not a migration: a session that only reads the version table (the application, another
# driftwatch), or reads it and then takes weaker DDL locks (CREATE INDEX: Share; ADD FOREIGN
# KEY: ShareRowExclusive), or locks temporary relations (CREATE TEMP TABLE, TRUNCATE of a
# temporary table), relations outside the watched schemas (`:watched`, the scope's schema
# names), or relations its open transaction created (their pg_class rows are not visible to
# this session: the inner join drops them); nor a lone ALTER TABLE or LOCK TABLE by hand,
# which is drift to report, not to wait out. A migration whose first DDL takes only such
# locks shows once it writes its version row; until then this session reads what is
# committed, which that transaction has not changed. TRUNCATE of a watched table counts,
# as its lock is ALTER TABLE's: a migration may truncate too. What still looks like a
# migration without being one (an application session left idle in such a transaction) is
# waited out for a bounded time only: see `check._migration_overdue`.
PG_MIGRATING = """
SELECT EXISTS (
  SELECT 1 FROM pg_locks v
  WHERE v.locktype = 'relation' AND v.pid <> pg_backend_pid()
    AND v.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND v.relation = CAST(to_regclass(CAST(:version_table AS text)) AS oid)
    AND (v.mode NOT IN ('AccessShareLock', 'RowShareLock') OR EXISTS (
      SELECT 1 FROM pg_locks d
        JOIN pg_class c ON c.oid = d.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE d.pid = v.pid AND d.locktype = 'relation' AND d.database = v.database
        AND d.mode = 'AccessExclusiveLock' AND c.relpersistence <> 't'
        AND n.nspname = ANY(CAST(:watched AS text[]))))
)
"""

# the version table, the fingerprint and the migration probe on PostgreSQL in one statement:
# the table's rows (one row of NULL when it is empty) each with the fingerprint and the
# probe, InitPlans computed once
PG_HEADS = """
SELECT v.version_num, {fingerprint}, ({migrating})
FROM (VALUES (1)) AS one(x) LEFT JOIN {table} AS v ON true
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class PgHeads:
    rows: list[Any]  # the version table's values
    fingerprint: str | None
    migrating: bool  # see PG_MIGRATING


def read_pg_heads(
    conn: Connection, version_table: TableClause, schemas: list[str], watched: list[str]
) -> PgHeads:
    """The version table's values, the fingerprint of `schemas` (None for none), and whether
    a migration holds the version table and a relation of the `watched` schemas, in one
    round trip (PostgreSQL). Raises the server's
    error when the table or its column is missing: the caller asks again, one question at a
    time, to tell which."""
    quoted = conn.dialect.identifier_preparer.format_table(version_table)
    fingerprint = f"({PG_FINGERPRINT})" if schemas else "NULL"
    statement = PG_HEADS.format(fingerprint=fingerprint, migrating=PG_MIGRATING, table=quoted)
    values: dict[str, Any] = {"version_table": quoted, "watched": watched}
    if schemas:
        values["schemas"] = schemas
    rows = conn.execute(text(statement), values).all()
    return PgHeads(
        rows=[row[0] for row in rows if row[0] is not None],
        fingerprint=f"pg:{rows[0][1]}" if schemas else None,
        migrating=bool(rows[0][2]),
    )


def read_fingerprint(conn: Connection, schemas: list[str]) -> str:
    """A value that changes whenever DDL changes the watched schemas (one query)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        row = conn.execute(text(PG_FINGERPRINT), {"schemas": schemas}).scalar_one()
        return f"pg:{row}"
    if dialect == "mysql":
        statement = text(MYSQL_FINGERPRINT).bindparams(bindparam("schemas", expanding=True))
        count, crc, xor = conn.execute(statement, {"schemas": schemas}).one()
        return f"mysql:{count}:{crc}:{xor}"
    # sqlite: the schema cookie is incremented by every schema change
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    return f"sqlite:{version}"
