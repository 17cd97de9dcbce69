"""A MySQL/MariaDB schema snapshot in five information_schema queries, whatever the number
of tables.

The schema of a MySQL table is its database; the database of the URL is the default schema
and is stored as None (tables, foreign-key targets, and the `db`. qualifiers the server
writes into view definitions), so a snapshot of `app` and one of a scratch database of
another name compare equal. The first query lists the relations of the watched databases;
the include/exclude patterns are applied to it, and the other queries name only the tables
kept (`TABLE_NAME IN (...)`): an excluded table's columns, indexes and constraints are never
sent. Rows stay plain tuples until they become snapshot objects.

What the server reports, and what is made of it (MariaDB 10.2+ is tested; the MySQL 8
variants, where the two differ, are written from MySQL's documentation and untested):

- default: `COLUMN_DEFAULT` as MariaDB reports it: a string literal quoted ('abc'), a number
  or an expression as written (0, current_timestamp()). MariaDB reports DEFAULT NULL as the
  text NULL and no default as SQL NULL; both are None here, as a nullable column without a
  default defaults to NULL. MySQL 8 reports literals unquoted: they are quoted here whatever
  the column's type, and expressions (EXTRA `DEFAULT_GENERATED`) are kept as reported. An
  `ON UPDATE` clause (EXTRA) follows the default: "current_timestamp() ON UPDATE
  current_timestamp()" ("NULL ON UPDATE ..." without a default).
- identity: "auto_increment"; generated: `GENERATION_EXPRESSION`, "virtual" or "stored"
  (MariaDB's PERSISTENT is stored).
- collation: only where the column's differs from its table's default collation.
- Every unique index, whether it was created as a UNIQUE constraint or a unique index (MySQL
  has no difference between the two), is an `Index(unique=True)`; `uniques` stays empty.
  This keeps what only an index has (prefix lengths, order, HASH, expressions). The PRIMARY
  index is the primary key, named PRIMARY as the server names it.
- An index definition is its type and keys as `INDEX_TYPE (key, ...)`: "BTREE (code(10)
  DESC, n)", a MySQL 8 functional key as its expression in parentheses, FULLTEXT and SPATIAL
  keys bare; " IGNORED" (MariaDB 10.6+) or " INVISIBLE" (MySQL 8) when the optimizer may not
  use it.
- foreign keys: RESTRICT and NO ACTION are InnoDB's default and the same thing there, so both
  are None (an ON DELETE RESTRICT written out reads as none written).
- CHECK constraints as "CHECK (clause)" with the server's clause text (MariaDB 10.2+, MySQL
  8.0.16+; earlier servers parse and drop them, so none are read). MariaDB adds a column-level
  CHECK (json_valid(`col`)) named after every JSON column: that is the JSON type itself, so
  such a column-level constraint is left out (a hand-written one of exactly that form is
  the same thing). MySQL 8 adds " NOT ENFORCED" where it says so.
- views: `VIEW_DEFINITION`, with the default database's `db`. qualifiers removed. No
  definer, algorithm or check option. Enums are column types (`enum('a','b')`), so `enums`
  stays empty; MariaDB's sequences have no information_schema table to read them from in a
  fixed number of queries, so `sequences` stays empty too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from driftwatch.snapshot import Check, Column, ForeignKey, Index, PrimaryKey, Scope, Snapshot, View
from driftwatch.snapshot import Table as SnapshotTable

# MariaDB reports a system-versioned table as such; a SEQUENCE is MariaDB's too
RELATIONS = """
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE, t.TABLE_COLLATION, t.TABLE_COMMENT,
       v.VIEW_DEFINITION
FROM information_schema.TABLES t
LEFT JOIN information_schema.VIEWS v
  ON v.TABLE_SCHEMA = t.TABLE_SCHEMA AND v.TABLE_NAME = t.TABLE_NAME
WHERE t.TABLE_SCHEMA IN :schemas
  AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW')
"""

COLUMNS = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT,
       EXTRA, GENERATION_EXPRESSION, COLLATION_NAME, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN :schemas AND TABLE_NAME IN :tables
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""

# {expression}: MySQL 8.0.13+ keeps a functional key's expression (COLUMN_NAME is NULL);
# {hidden}: the word that says the optimizer may not use the index (MariaDB 10.6+, MySQL 8)
INDEXES = """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, INDEX_TYPE, COLUMN_NAME, SUB_PART,
       COLLATION, {expression}, {hidden}
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA IN :schemas AND TABLE_NAME IN :tables
ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""

FOREIGN_KEYS = """
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME,
       k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME,
       r.UPDATE_RULE, r.DELETE_RULE
FROM information_schema.KEY_COLUMN_USAGE k
JOIN information_schema.REFERENTIAL_CONSTRAINTS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME
  AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
WHERE k.TABLE_SCHEMA IN :schemas AND k.TABLE_NAME IN :tables
  AND r.CONSTRAINT_SCHEMA IN :schemas AND k.REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""

# the last two: whether it is a column-level constraint (MariaDB's json_valid() is one), and
# whether MySQL 8 says NOT ENFORCED
MARIADB_CHECKS = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL = 'Column', 0
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN :schemas AND TABLE_NAME IN :tables
"""

# MySQL 8's CHECK_CONSTRAINTS has no table name: TABLE_CONSTRAINTS has
MYSQL_CHECKS = """
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.CONSTRAINT_NAME, c.CHECK_CLAUSE, 0,
       t.ENFORCED = 'NO'
FROM information_schema.TABLE_CONSTRAINTS t
JOIN information_schema.CHECK_CONSTRAINTS c
  ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME
WHERE t.CONSTRAINT_TYPE = 'CHECK' AND t.TABLE_SCHEMA IN :schemas AND t.TABLE_NAME IN :tables
"""

TABLE_TYPES = frozenset({"BASE TABLE", "SYSTEM VERSIONED"})
DEFAULT_RULES = frozenset({"RESTRICT", "NO ACTION"})  # InnoDB's default, one behaviour
ON_UPDATE = re.compile(r"\bon update (.+)$", re.IGNORECASE)
# no direction: FULLTEXT and SPATIAL keys (COLLATION NULL) and MariaDB before 10.8 ('A' only)
DIRECTIONS = {"D": " DESC"}

Key = tuple[str, str]  # (database, table) as the server names them


def read_mysql(conn: Connection, scope: Scope) -> Snapshot:
    """Snapshot what `scope` watches of a MySQL/MariaDB database (schema None: the URL's)."""
    default_schema = conn.dialect.default_schema_name
    scope = scope.in_database(default_schema)
    mariadb: bool = conn.dialect.is_mariadb  # type: ignore[attr-defined]
    version = tuple(conn.dialect.server_version_info or ())
    named = (default_schema if s is None else s for s in scope.schemas)
    names = sorted({name for name in named if name is not None})

    def local(schema: str | None) -> str | None:
        return None if schema == default_schema else schema

    tables: dict[Key, _TableParts] = {}
    views: list[View] = []
    for schema, name, kind, collation, comment, query in (
        _run(conn, RELATIONS, schemas=names) if names else ()
    ):
        if not scope.watches(local(schema), name):
            continue
        if kind in TABLE_TYPES:
            tables[(schema, name)] = _TableParts(local(schema), name, collation, comment)
        else:
            definition = _unqualified(query or "", default_schema)
            views.append(View(schema=local(schema), name=name, definition=definition))

    statistics = INDEXES.format(
        expression="EXPRESSION" if not mariadb and version >= (8, 0, 13) else "NULL",
        hidden=_hidden_column(version, mariadb=mariadb),
    )
    details: list[tuple[str, Callable[[_TableParts, Any], None]]] = [
        (COLUMNS, lambda part, row: part.add_column(row, mariadb=mariadb)),
        (statistics, _TableParts.add_index_key),
        (FOREIGN_KEYS, lambda part, row: part.add_foreign_key_column(row, local)),
    ]
    if checks_supported(conn):
        details.append((MARIADB_CHECKS if mariadb else MYSQL_CHECKS, _TableParts.add_check))
    table_names = sorted({name for _, name in tables})
    for query, add in details if tables else ():
        for row in _run(conn, query, schemas=names, tables=table_names):
            # a name kept in one database may be excluded in another: matched by both
            if part := tables.get((row[0], row[1])):
                add(part, row)

    return Snapshot(
        dialect="mysql",
        server_version=".".join(str(v) for v in version) + ("-MariaDB" if mariadb else ""),
        default_schema=default_schema,
        scope=scope,
        tables=tuple(sorted((part.table() for part in tables.values()), key=_by_key)),
        views=tuple(sorted(views, key=_by_key)),
    )


def checks_supported(conn: Connection) -> bool:
    """CHECK constraints are kept from MariaDB 10.2 and MySQL 8.0.16 (parsed, then lost before)."""
    version = tuple(conn.dialect.server_version_info or ())
    return version >= ((10, 2) if conn.dialect.is_mariadb else (8, 0, 16))  # type: ignore[attr-defined]


def _hidden_column(version: tuple[Any, ...], *, mariadb: bool) -> str:
    if mariadb:
        return "IF(IGNORED = 'YES', ' IGNORED', '')" if version >= (10, 6) else "''"
    return "IF(IS_VISIBLE = 'NO', ' INVISIBLE', '')" if version >= (8, 0) else "''"


def _run(conn: Connection, query: str, **params: list[str]) -> list[Any]:
    statement: TextClause = text(query).bindparams(
        *(bindparam(name, expanding=True) for name in params)
    )
    return list(conn.execute(statement, params).all())


def _by_key(obj: SnapshotTable | View) -> tuple[str, str]:
    return (obj.schema or "", obj.name)


def _unqualified(definition: str, default_schema: str | None) -> str:
    """A view's query without the `db`. the server writes before names of the default one."""
    if not default_schema:
        return definition
    quoted = "`" + default_schema.replace("`", "``") + "`."
    return definition.replace(quoted, "")


def _column(row: Any, table_collation: str | None, *, mariadb: bool) -> Column:
    (_, _, name, type_, nullable, default, extra, expression, collation, comment) = row
    extra = extra or ""
    lowered = extra.lower()
    generated_kind = None
    if "virtual generated" in lowered:
        generated_kind = "virtual"
    elif "stored generated" in lowered or "persistent generated" in lowered:
        generated_kind = "stored"
    return Column(
        name=name,
        type=type_,
        nullable=nullable == "YES",
        default=None if generated_kind else _default(default, extra, mariadb=mariadb),
        identity="auto_increment" if "auto_increment" in lowered else None,
        generated=expression if generated_kind else None,
        generated_kind=generated_kind,
        collation=collation if collation != table_collation else None,
        comment=comment or None,
    )


def _default(reported: str | None, extra: str, *, mariadb: bool) -> str | None:
    """The default as one text, None for none (see the module docstring)."""
    if mariadb:
        value = None if reported in (None, "NULL") else reported
    elif reported is None or "DEFAULT_GENERATED" in extra:
        value = reported
    else:
        value = "'" + reported.replace("'", "''") + "'"
    if on_update := ON_UPDATE.search(extra):
        return f"{value or 'NULL'} ON UPDATE {on_update.group(1)}"
    return value


class _TableParts:
    """One table's columns, keys and constraints as their rows arrive."""

    __slots__ = (
        "checks",
        "collation",
        "columns",
        "comment",
        "foreign_keys",
        "index_keys",
        "name",
        "schema",
    )

    def __init__(
        self, schema: str | None, name: str, collation: str | None, comment: str | None
    ) -> None:
        self.schema = schema
        self.name = name
        self.collation = collation
        self.comment = comment or None
        self.columns: list[Column] = []
        # index name -> (unique, type, hidden word, keys); rows arrive in SEQ_IN_INDEX order
        self.index_keys: dict[str, tuple[bool, str, str, list[str]]] = {}
        # constraint name -> (columns, referred schema, table, columns, update, delete)
        self.foreign_keys: dict[str, tuple[list[str], str | None, str, list[str], Any, Any]] = {}
        self.checks: list[Check] = []

    def add_column(self, row: Any, *, mariadb: bool) -> None:
        self.columns.append(_column(row, self.collation, mariadb=mariadb))

    def add_index_key(self, row: Any) -> None:
        (_, _, name, non_unique, kind, column, sub_part, collation, expression, hidden) = row
        key = f"({expression})" if column is None else column
        if sub_part is not None:
            key += f"({sub_part})"
        key += DIRECTIONS.get(collation, "")
        entry = self.index_keys.setdefault(name, (not non_unique, kind, hidden, []))
        entry[3].append(key)

    def add_foreign_key_column(self, row: Any, local: Callable[[str | None], str | None]) -> None:
        (_, _, name, column, ref_schema, ref_table, ref_column, on_update, on_delete) = row
        entry = self.foreign_keys.setdefault(
            name, ([], local(ref_schema), ref_table, [], on_update, on_delete)
        )
        entry[0].append(column)
        entry[3].append(ref_column)

    def add_check(self, row: Any) -> None:
        _, _, name, clause, column_level, not_enforced = row
        if column_level and clause == f"json_valid(`{name.replace('`', '``')}`)":
            return  # MariaDB's JSON type, not a constraint of the schema's
        expression = f"CHECK ({clause})" + (" NOT ENFORCED" if not_enforced else "")
        self.checks.append(Check(name=name, expression=expression))

    def table(self) -> SnapshotTable:
        primary_key = None
        indexes = []
        for name, (unique, kind, hidden, keys) in sorted(self.index_keys.items()):
            if name == "PRIMARY":
                primary_key = PrimaryKey(name=name, columns=tuple(keys))
                continue
            definition = f"{kind} ({', '.join(keys)}){hidden}"
            indexes.append(Index(name=name, unique=unique, definition=definition))
        foreign_keys = [
            ForeignKey(
                name=name,
                columns=tuple(columns),
                referred_schema=ref_schema,
                referred_table=ref_table,
                referred_columns=tuple(ref_columns),
                on_update=None if on_update in DEFAULT_RULES else on_update,
                on_delete=None if on_delete in DEFAULT_RULES else on_delete,
            )
            for name, (columns, ref_schema, ref_table, ref_columns, on_update, on_delete) in (
                sorted(self.foreign_keys.items())
            )
        ]
        return SnapshotTable(
            schema=self.schema,
            name=self.name,
            columns=tuple(self.columns),
            primary_key=primary_key,
            foreign_keys=tuple(foreign_keys),
            checks=tuple(sorted(self.checks, key=lambda c: (c.name or "", c.expression))),
            indexes=tuple(indexes),
            comment=self.comment,
        )
