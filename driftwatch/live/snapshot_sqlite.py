"""A SQLite schema snapshot from `sqlite_master` and the pragmas, in four local queries.

The pragmas are read as table-valued functions joined to `sqlite_master`
(`pragma_table_xinfo(m.name)`), one query for all tables each: columns, index keys and
foreign keys. What the pragmas do not report (CHECK constraints, constraint names, a
generated column's expression, COLLATE, AUTOINCREMENT, DEFERRABLE, an index's expressions
and WHERE, a view's query) is read from the CREATE statements SQLite keeps as written
(`sqlite_ddl`). SQLite has one schema here, `main`, stored as None; attached databases are
not read. Rows stay plain tuples until they become snapshot objects.

What is made of it: a column's type as declared, its default as stored (`dflt_value`),
identity "autoincrement" for an AUTOINCREMENT key, a COLLATE other than BINARY (SQLite's
default). A UNIQUE constraint (index origin "u") is a `Unique` "UNIQUE (a, b)", a CREATE
[UNIQUE] INDEX an `Index` whose definition is its keys and WHERE, "(a, lower(b) DESC) WHERE
a > 0" (SQLite has one index method and does not name it). Foreign-key actions are None
for NO ACTION, SQLite's default; a REFERENCES without columns names the referred table's
primary key. Virtual tables (CREATE VIRTUAL TABLE) are left out: their pragmas need the
module that implements them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from driftwatch.live.sqlite_ddl import (
    ForeignKeyText,
    TableText,
    parse_index,
    parse_table,
    view_query,
)
from driftwatch.snapshot import (
    Check,
    Column,
    ForeignKey,
    Index,
    PrimaryKey,
    Scope,
    Snapshot,
    Table,
    Unique,
    View,
)

# sqlite_ names are SQLite's own (sqlite_sequence, sqlite_stat1, sqlite_autoindex_...)
MASTER = r"""
SELECT type, name, sql FROM main.sqlite_master
WHERE type IN ('table', 'view', 'index') AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
"""

COLUMNS = """
SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden
FROM main.sqlite_master AS m, pragma_table_xinfo(m.name, 'main') AS c
WHERE m.type = 'table' AND m.name IN :tables
ORDER BY m.name, c.cid
"""

# key = 1: the index's own keys, not the rowid every index entry carries
INDEX_KEYS = """
SELECT m.name, l.name, l."unique", l.origin, x.cid, x.name, x."desc", x.coll
FROM main.sqlite_master AS m, pragma_index_list(m.name, 'main') AS l,
     pragma_index_xinfo(l.name, 'main') AS x
WHERE m.type = 'table' AND m.name IN :tables AND x.key = 1
ORDER BY m.name, l.name, x.seqno
"""

FOREIGN_KEYS = """
SELECT m.name, f.id, f."table", f."from", f."to", f.on_update, f.on_delete
FROM main.sqlite_master AS m, pragma_foreign_key_list(m.name, 'main') AS f
WHERE m.type = 'table' AND m.name IN :tables
ORDER BY m.name, f.id, f.seq
"""

# a REFERENCES without columns names the primary key of a table this read may not cover
PRIMARY_KEYS = """
SELECT lower(m.name), c.name
FROM main.sqlite_master AS m, pragma_table_xinfo(m.name, 'main') AS c
WHERE m.type = 'table' AND lower(m.name) IN :tables AND c.pk > 0
ORDER BY m.name, c.pk
"""

GENERATED = {2: "virtual", 3: "stored"}  # table_xinfo's hidden
DEFAULT_COLLATION = "BINARY"
DEFAULT_ACTION = "NO ACTION"


def read_sqlite(conn: Connection, scope: Scope) -> Snapshot:
    """Snapshot what `scope` watches of a SQLite database's main schema (None)."""
    scope = scope.in_database("main")
    creates: dict[str, str] = {}  # table -> CREATE TABLE
    index_sql: dict[str, str] = {}  # index -> CREATE INDEX
    views: list[View] = []
    for kind, name, sql in conn.execute(text(MASTER)).all() if None in scope.schemas else ():
        if kind == "index":
            index_sql[name] = sql
        elif not scope.watches(None, name):
            continue
        elif kind == "view":
            views.append(View(schema=None, name=name, definition=view_query(sql)))
        elif not sql.lstrip().upper().startswith("CREATE VIRTUAL"):
            creates[name] = sql

    parts = {name: _TableParts(name, parse_table(sql)) for name, sql in creates.items()}
    if parts:
        names = sorted(parts)
        for row in _run(conn, COLUMNS, names):
            parts[row[0]].add_column(row)
        for row in _run(conn, INDEX_KEYS, names):
            parts[row[0]].add_index_key(row)
        for row in _run(conn, FOREIGN_KEYS, names):
            parts[row[0]].add_foreign_key_column(row)
        _referred_primary_keys(conn, parts)

    version = conn.dialect.server_version_info or ()
    return Snapshot(
        dialect="sqlite",
        server_version=".".join(str(v) for v in version),
        default_schema="main",
        scope=scope,
        tables=tuple(parts[name].table(index_sql) for name in sorted(parts)),
        views=tuple(sorted(views, key=lambda v: v.name)),
    )


def _run(conn: Connection, query: str, tables: list[str]) -> list[Any]:
    statement = text(query).bindparams(bindparam("tables", expanding=True))
    return list(conn.execute(statement, {"tables": tables}).all())


def _referred_primary_keys(conn: Connection, parts: dict[str, _TableParts]) -> None:
    """Fill in the columns of a REFERENCES that names none: the referred primary key."""
    keys = {name.lower(): part.primary_key_columns() for name, part in parts.items()}
    implicit = {
        fk.referred.lower()
        for part in parts.values()
        for fk in part.foreign_keys.values()
        if None in fk.referred_columns
    }
    unread = sorted(implicit - set(keys))
    if unread:
        found: dict[str, list[str]] = defaultdict(list)
        for table, column in _run(conn, PRIMARY_KEYS, unread):
            found[table].append(column)
        keys.update({table: tuple(columns) for table, columns in found.items()})
    for part in parts.values():
        part.referred_primary_keys(keys)


class _ForeignKeyRows:
    """The pragma rows of one foreign key, one per column."""

    __slots__ = ("columns", "on_delete", "on_update", "referred", "referred_columns")

    def __init__(self, referred: str, on_update: str, on_delete: str) -> None:
        self.referred = referred
        self.on_update = on_update
        self.on_delete = on_delete
        self.columns: list[str] = []
        self.referred_columns: list[str | None] = []  # None: REFERENCES named no columns


class _TableParts:
    """One table's columns, keys and constraints as their rows arrive."""

    __slots__ = ("columns", "create", "foreign_keys", "index_keys", "name", "pk_positions")

    def __init__(self, name: str, create: TableText) -> None:
        self.name = name
        self.create = create
        self.columns: list[Column] = []
        self.pk_positions: dict[str, int] = {}
        # index name -> (unique, origin, keys as (cid, name, desc, collation))
        self.index_keys: dict[str, tuple[bool, str, list[tuple[int, str | None, int, str]]]] = {}
        self.foreign_keys: dict[int, _ForeignKeyRows] = {}  # by the pragma's id

    def add_column(self, row: Any) -> None:
        _, name, type_, notnull, default, pk, hidden = row
        written = self.create.columns.get(name.lower())
        collation = written.collation if written else None
        generated_kind = GENERATED.get(hidden)
        if pk:
            self.pk_positions[name] = pk
        self.columns.append(
            Column(
                name=name,
                type=type_,
                nullable=not notnull,
                default=default,
                identity="autoincrement" if written and written.autoincrement else None,
                generated=written.generated if written and generated_kind else None,
                generated_kind=generated_kind,
                collation=None if (collation or "").upper() == DEFAULT_COLLATION else collation,
            )
        )

    def add_index_key(self, row: Any) -> None:
        _, name, unique, origin, cid, column, desc, collation = row
        entry = self.index_keys.setdefault(name, (bool(unique), origin, []))
        entry[2].append((cid, column, desc, collation))

    def add_foreign_key_column(self, row: Any) -> None:
        _, number, referred, column, referred_column, on_update, on_delete = row
        rows = self.foreign_keys.get(number)
        if rows is None:
            rows = self.foreign_keys[number] = _ForeignKeyRows(referred, on_update, on_delete)
        rows.columns.append(column)
        rows.referred_columns.append(referred_column)

    def primary_key_columns(self) -> tuple[str, ...]:
        return tuple(sorted(self.pk_positions, key=self.pk_positions.__getitem__))

    def referred_primary_keys(self, keys: dict[str, tuple[str, ...]]) -> None:
        for rows in self.foreign_keys.values():
            if None in rows.referred_columns:
                rows.referred_columns[:] = keys.get(rows.referred.lower(), ())

    def table(self, index_sql: dict[str, str]) -> Table:
        create = self.create
        columns = self.primary_key_columns()
        primary_key = PrimaryKey(name=create.primary_key_name, columns=columns) if columns else None
        uniques: list[Unique] = []
        indexes: list[Index] = []
        checks = [Check(name=n, expression=f"CHECK ({c})") for n, c in create.checks]
        named_uniques = list(create.uniques)
        for name, (unique, origin, keys) in self.index_keys.items():
            if origin == "u":
                uniques.append(self._unique(keys, named_uniques))
            elif origin == "c" and name in index_sql:
                definition = _index_definition(keys, index_sql[name])
                indexes.append(Index(name=name, unique=unique, definition=definition))
        return Table(
            schema=None,
            name=self.name,
            columns=tuple(self.columns),
            primary_key=primary_key,
            uniques=tuple(sorted(uniques, key=lambda u: (u.name or "", u.definition))),
            foreign_keys=tuple(sorted(self._foreign_keys(), key=_foreign_key_order)),
            checks=tuple(sorted(checks, key=lambda c: (c.name or "", c.expression))),
            indexes=tuple(sorted(indexes, key=lambda i: i.name)),
        )

    @staticmethod
    def _unique(
        keys: list[tuple[int, str | None, int, str]],
        named: list[tuple[str | None, tuple[str, ...]]],
    ) -> Unique:
        """The UNIQUE constraint behind an automatic index, named as its CREATE TABLE says."""
        columns = tuple(str(column) for _, column, _, _ in keys)
        lowered = tuple(c.lower() for c in columns)
        match = next((u for u in named if tuple(c.lower() for c in u[1]) == lowered), None)
        if match is not None:
            named.remove(match)
        return Unique(
            name=match[0] if match else None,
            columns=columns,
            definition=f"UNIQUE ({', '.join(columns)})",
        )

    def _foreign_keys(self) -> list[ForeignKey]:
        written = list(self.create.foreign_keys)
        found = []
        for rows in self.foreign_keys.values():
            text_ = _take_written(written, rows.columns, rows.referred)
            found.append(
                ForeignKey(
                    name=text_.name if text_ else None,
                    columns=tuple(rows.columns),
                    referred_schema=None,
                    referred_table=rows.referred,
                    referred_columns=tuple(str(c) for c in rows.referred_columns),
                    on_update=None if rows.on_update == DEFAULT_ACTION else rows.on_update,
                    on_delete=None if rows.on_delete == DEFAULT_ACTION else rows.on_delete,
                    deferrable=text_.deferrable if text_ else None,
                )
            )
        return found


def _take_written(
    written: list[ForeignKeyText], columns: list[str], referred: str
) -> ForeignKeyText | None:
    """The foreign key of the CREATE TABLE text that a pragma row stands for (taken out)."""
    lowered = tuple(c.lower() for c in columns)
    for fk in written:
        if (
            tuple(c.lower() for c in fk.columns) == lowered
            and fk.referred_table.lower() == referred.lower()
        ):
            written.remove(fk)
            return fk
    return None


def _foreign_key_order(fk: ForeignKey) -> tuple[str, tuple[str, ...], str]:
    return (fk.name or "", fk.columns, fk.referred_table)


def _index_definition(keys: list[tuple[int, str | None, int, str]], sql: str) -> str:
    """An index's keys from the pragma (names, DESC, COLLATE), expressions and WHERE from
    its CREATE INDEX text."""
    expressions, where = parse_index(sql)
    rendered = []
    for position, (cid, column, desc, collation) in enumerate(keys):
        if cid == -2:  # an expression, which the pragma does not name
            key = expressions[position] if position < len(expressions) else "?"
        else:
            key = column if column is not None else "rowid"
        if collation and collation.upper() != DEFAULT_COLLATION:
            key += f" COLLATE {collation}"
        if desc:
            key += " DESC"
        rendered.append(key)
    definition = f"({', '.join(rendered)})"
    return f"{definition} WHERE {where}" if where else definition
