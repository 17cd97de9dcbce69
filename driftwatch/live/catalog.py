"""What alembic's comparison does not read: enum labels and CHECK constraints.

Database access, called from `live.observe` on its connection: one query per kind on PostgreSQL
and MySQL/MariaDB whatever the number of tables; SQLite reads the CREATE TABLE text it keeps
locally, one query per schema, with the parser the snapshot reader uses (`live.sqlite_ddl`).
The comparison itself is pure, in `compare.catalog`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoSuchTableError

from driftwatch.compare.catalog import LiveCatalog, TableKey, local_schema
from driftwatch.live.snapshot_mysql import checks_supported
from driftwatch.live.sqlite_ddl import check_constraints

PG_ENUMS = """
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(CAST(:schemas AS text[]))
GROUP BY n.nspname, t.typname
"""

# contype 'c' only: PostgreSQL 18 keeps NOT NULL as constraints of their own type ('n')
PG_CHECKS = """
SELECT n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'c' AND n.nspname = ANY(CAST(:schemas AS text[]))
"""

# MariaDB adds a column-level CHECK (json_valid(...)) named after every JSON column: those
# are the type's own, not the schema's, so only table-level constraints count
MARIADB_CHECKS = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN :schemas AND LEVEL = 'Table'
"""

MYSQL_CHECKS = """
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.CONSTRAINT_NAME, c.CHECK_CLAUSE
FROM information_schema.TABLE_CONSTRAINTS t
JOIN information_schema.CHECK_CONSTRAINTS c
  ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME
WHERE t.CONSTRAINT_TYPE = 'CHECK' AND t.TABLE_SCHEMA IN :schemas
"""


def _key(conn: Connection, schema: str | None, name: str) -> TableKey:
    return (local_schema(schema, conn.dialect.default_schema_name), name)


def read_enum_labels(conn: Connection, schemas: Iterable[str]) -> dict[TableKey, tuple[str, ...]]:
    """Labels of every PostgreSQL enum type in `schemas`, in their sort order."""
    names = sorted(set(schemas))
    if conn.dialect.name != "postgresql" or not names:
        return {}
    rows = conn.execute(text(PG_ENUMS), {"schemas": names})
    return {_key(conn, schema, name): tuple(labels) for schema, name, labels in rows}


def read_checks(
    conn: Connection,
    schemas: Iterable[str],
    tables: Iterable[TableKey],
    *,
    table_by_table: Iterable[str] = (),
) -> dict[TableKey, dict[str | None, str]]:
    """CHECK constraints of `tables` (in `schemas`): name (None if unnamed) to its SQL text.

    A table with no CHECK constraint has no entry; the caller knows which tables it asked for.
    MySQL/MariaDB schemas in `table_by_table` are read from each table's own DDL: their user
    holds grants on single tables, and information_schema then shows no constraint at all.
    """
    wanted = set(tables)
    per_table = set(table_by_table)
    names = sorted(set(schemas) - per_table)
    dialect = conn.dialect.name
    found: dict[TableKey, dict[str | None, str]] = {}

    def keep(schema: str | None, table: str, name: str | None, sql: str) -> None:
        key = _key(conn, schema, table)
        if key in wanted:
            # PostgreSQL's pg_get_constraintdef says CHECK itself; the others give the condition
            found.setdefault(key, {})[name] = sql if sql.startswith("CHECK") else f"CHECK ({sql})"

    def reflect(keys: Iterable[TableKey]) -> None:
        inspector = inspect(conn)
        for schema, table in sorted(keys, key=lambda k: (k[0] or "", k[1])):
            try:
                checks = inspector.get_check_constraints(table, schema=schema)
            except NoSuchTableError:
                continue  # a missing table, which the comparison reports as such
            for check in checks:
                keep(schema, table, check.get("name"), str(check.get("sqltext", "")))

    if dialect == "postgresql" and names:
        for schema, table, name, sql in conn.execute(text(PG_CHECKS), {"schemas": names}):
            keep(schema, table, name, sql)
    elif dialect == "mysql" and checks_supported(conn):
        if names:
            query = MARIADB_CHECKS if conn.dialect.is_mariadb else MYSQL_CHECKS  # type: ignore[attr-defined]
            statement = text(query).bindparams(bindparam("schemas", expanding=True))
            for schema, table, name, sql in conn.execute(statement, {"schemas": names}):
                keep(schema, table, name, sql)
        default = conn.dialect.default_schema_name
        reflect(k for k in wanted if (k[0] or default) in per_table)
    elif dialect == "sqlite":
        quote = conn.dialect.identifier_preparer.quote_identifier
        for schema in sorted({schema for schema, _ in wanted}, key=lambda s: s or ""):
            master = f"{quote(schema or 'main')}.sqlite_master"
            rows = conn.execute(text(f"SELECT name, sql FROM {master} WHERE type = 'table'"))
            for table, create in rows:
                for name, condition in check_constraints(create or ""):
                    keep(schema, table, name, condition)
    return found


def read_catalog(
    conn: Connection,
    *,
    enum_schemas: Iterable[str],
    check_schemas: Iterable[str],
    tables: Iterable[TableKey],
) -> LiveCatalog:
    return LiveCatalog(
        enums=read_enum_labels(conn, enum_schemas),
        checks=read_checks(conn, check_schemas, tables),
    )
