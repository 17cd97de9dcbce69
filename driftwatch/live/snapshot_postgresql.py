"""A PostgreSQL schema snapshot in four whole-catalog queries, whatever the number of tables.

The relations of the watched schemas come first; the include/exclude patterns are applied to
them, and the three other queries (columns, constraints and indexes, enum types) read only
the relations kept, by oid: an excluded table costs nothing. Every text is the server's own
deparsing (format_type, pg_get_expr, pg_get_constraintdef, pg_get_indexdef,
pg_get_viewdef), so a snapshot of the live database and one of a scratch database built by
the same DDL compare by equality. Rows stay plain tuples until they become snapshot objects.
Every kind of object is sorted by name, as catalog order is creation order: a table built in
one CREATE TABLE and one built by a chain of migrations give equal snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from driftwatch.gc_pause import paused_gc
from driftwatch.snapshot import (
    Check,
    Column,
    EnumType,
    ForeignKey,
    Index,
    PrimaryKey,
    Scope,
    Sequence,
    Snapshot,
    Table,
    Unique,
    View,
)

# relkind: r table, p partitioned table, f foreign table, v view, m materialized view,
# S sequence. A sequence an identity column owns (deptype 'i') belongs to that column; one a
# serial column owns (deptype 'a') is in scope with its table.
RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind::text,
       (SELECT d.description FROM pg_description d WHERE d.objoid = c.oid
          AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       CASE WHEN c.relkind = 'S' THEN
         format_type(s.seqtypid, NULL) || ' START ' || s.seqstart || ' INCREMENT ' ||
         s.seqincrement || ' MINVALUE ' || s.seqmin || ' MAXVALUE ' || s.seqmax ||
         ' CACHE ' || s.seqcache || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END
       END,
       dep.deptype::text, owner_schema.nspname, owner.relname, owner_column.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend dep
  ON c.relkind = 'S' AND dep.classid = 'pg_class'::regclass AND dep.objid = c.oid
  AND dep.refclassid = 'pg_class'::regclass AND dep.deptype IN ('a', 'i')
LEFT JOIN pg_class owner ON owner.oid = dep.refobjid
LEFT JOIN pg_namespace owner_schema ON owner_schema.oid = owner.relnamespace
LEFT JOIN pg_attribute owner_column
  ON owner_column.attrelid = dep.refobjid AND owner_column.attnum = dep.refobjsubid
WHERE n.nspname = ANY(CAST(:schemas AS text[]))
  AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
"""

# the collation only where it is not the type's own; generated columns keep their
# expression in pg_attrdef like a default, so it is read once and placed by attgenerated.
# No ORDER BY: the server sorted 50,000 rows on disk at 5000 tables; Python sorts them.
COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity::text, a.attgenerated::text,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       (SELECT d.description FROM pg_description d WHERE d.objoid = a.attrelid
          AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = ANY(CAST(:oids AS oid[])) AND a.attnum > 0 AND NOT a.attisdropped
"""

# constraints and the indexes that back none of them, in one result: contype 'n' (NOT NULL
# as a constraint, PostgreSQL 18) is the column's flag, read above; an index that backs a
# primary key, unique or exclusion constraint is that constraint. Comments are read by a
# subquery on pg_description's index: a join misleads the planner into a nested loop over
# the whole of pg_description for every row (13 s instead of 0.1 s at 5000 tables). Only a
# foreign key is looked for in the relations read: each test scans the whole oid array.
CONSTRAINTS_AND_INDEXES = """
SELECT k.conrelid, k.contype::text, k.conname, pg_get_constraintdef(k.oid, true), k.conkey,
       rn.nspname, rc.relname, k.confkey,
       CASE WHEN k.contype = 'f' AND NOT k.confrelid = ANY(CAST(:oids AS oid[])) THEN
         ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(num, pos)
               JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num
               ORDER BY u.pos)
       END,
       k.confupdtype::text, k.confdeltype::text, k.condeferrable, k.condeferred, k.confrelid,
       NULL::text
FROM pg_constraint k
LEFT JOIN pg_class rc ON rc.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE k.conrelid = ANY(CAST(:oids AS oid[])) AND k.contype IN ('p', 'u', 'f', 'c')
UNION ALL
SELECT i.indrelid, 'i', ic.relname, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       i.indisunique, NULL, NULL, pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(CAST(:oids AS oid[]))
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                  WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                    AND k.contype IN ('p', 'u', 'x'))
"""

ENUMS = """
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(CAST(:schemas AS text[]))
GROUP BY n.nspname, t.typname
"""

_RELATION_AND_NUMBER = itemgetter(0, 1)
FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
IDENTITY = {"a": "always", "d": "by default"}
GENERATED = {"s": "stored", "v": "virtual"}
TABLE_KINDS = frozenset({"r", "p", "f"})
VIEW_KINDS = frozenset({"v", "m"})


def read_postgresql(conn: Connection, scope: Scope) -> Snapshot:
    """Snapshot what `scope` watches of a PostgreSQL database (schema None: the default one)."""
    with paused_gc():
        return _read(conn, scope)


def _read(conn: Connection, scope: Scope) -> Snapshot:
    default_schema = conn.dialect.default_schema_name
    scope = scope.in_database(default_schema)
    names = sorted(
        name for name in (default_schema if s is None else s for s in scope.schemas) if name
    )

    def local(schema: str | None) -> str | None:
        return None if schema == default_schema else schema

    table_rows: dict[int, tuple[str | None, str, str | None]] = {}
    views: list[View] = []
    sequences: list[Sequence] = []
    for (
        oid,
        nspname,
        relname,
        relkind,
        comment,
        viewdef,
        seqdef,
        deptype,
        owner_nspname,
        owner,
        column,
    ) in conn.execute(text(RELATIONS), {"schemas": names}).all():
        schema = local(nspname)
        if deptype == "a":  # a serial column's sequence: in scope with its table
            if not scope.watches(local(owner_nspname), owner):
                continue
        elif not scope.watches(schema, relname):
            continue
        if relkind in TABLE_KINDS:
            table_rows[oid] = (schema, relname, comment)
        elif relkind in VIEW_KINDS:
            views.append(
                View(
                    schema=schema,
                    name=relname,
                    definition=viewdef.strip(),
                    materialized=relkind == "m",
                    comment=comment,
                )
            )
        elif deptype != "i":  # an identity column's sequence is the column's business
            owned_by = f"{owner}.{column}" if deptype == "a" else None
            sequences.append(
                Sequence(schema=schema, name=relname, definition=seqdef, owned_by=owned_by)
            )

    oids = list(table_rows)
    columns: dict[int, list[Column]] = defaultdict(list)
    attnames: dict[int, dict[int, str]] = defaultdict(dict)  # relation -> attnum -> name
    parts: dict[int, _TableParts] = defaultdict(_TableParts)
    if oids:
        rows = conn.execute(text(COLUMNS), {"oids": oids}).all()
        for row in sorted(rows, key=_RELATION_AND_NUMBER):
            columns[row[0]].append(_column(row))
            attnames[row[0]][row[1]] = row[2]
        for row in conn.execute(text(CONSTRAINTS_AND_INDEXES), {"oids": oids}).all():
            parts[row[0]].add(row, local, attnames)
    enums = [
        EnumType(schema=local(nspname), name=typname, labels=tuple(labels))
        for nspname, typname, labels in conn.execute(text(ENUMS), {"schemas": names}).all()
    ]

    tables = []
    for oid, (schema, name, comment) in table_rows.items():
        part = parts.get(oid) or _TableParts()
        tables.append(
            Table(
                schema=schema,
                name=name,
                columns=tuple(columns.get(oid, ())),
                primary_key=part.primary_key,
                uniques=tuple(sorted(part.uniques, key=lambda u: u.name or "")),
                foreign_keys=tuple(sorted(part.foreign_keys, key=lambda f: f.name or "")),
                checks=tuple(sorted(part.checks, key=lambda c: c.name or "")),
                indexes=tuple(sorted(part.indexes, key=lambda i: i.name)),
                comment=comment,
            )
        )
    version = conn.dialect.server_version_info or ()
    return Snapshot(
        dialect="postgresql",
        server_version=".".join(str(v) for v in version),
        default_schema=default_schema,
        scope=scope,
        tables=tuple(sorted(tables, key=_by_key)),
        views=tuple(sorted(views, key=_by_key)),
        enums=tuple(sorted(enums, key=_by_key)),
        sequences=tuple(sorted(sequences, key=_by_key)),
    )


def _by_key(obj: Table | View | EnumType | Sequence) -> tuple[str, str]:
    return (obj.schema or "", obj.name)


def _column(row: Any) -> Column:
    _oid, _num, name, type_, notnull, expression, identity, generated, collation, comment = row
    return Column(
        name=name,
        type=type_,
        nullable=not notnull,
        default=None if generated else expression,
        identity=IDENTITY.get(identity),
        generated=expression if generated else None,
        generated_kind=GENERATED.get(generated),
        collation=collation,
        comment=comment,
    )


class _TableParts:
    """Constraints and indexes of one table as their rows arrive."""

    __slots__ = ("checks", "foreign_keys", "indexes", "primary_key", "uniques")

    def __init__(self) -> None:
        self.primary_key: PrimaryKey | None = None
        self.uniques: list[Unique] = []
        self.foreign_keys: list[ForeignKey] = []
        self.checks: list[Check] = []
        self.indexes: list[Index] = []

    def add(
        self,
        row: Any,
        local: Callable[[str | None], str | None],
        attnames: Mapping[int, Mapping[int, str]],
    ) -> None:
        # an index row carries indisunique where a constraint has condeferrable; column
        # numbers are named from the columns already read, or by the server for a foreign
        # key to a table outside the scope
        (relid, kind, name, definition, keys, ref_schema, ref_table, ref_keys, ref_names,
         on_update, on_delete, deferrable_or_unique, deferred, ref_relid,
         index_definition) = row  # fmt: skip
        if kind == "i":
            # what follows USING: method, keys, INCLUDE, WHERE (name and table are known)
            definition = index_definition.partition(" USING ")[2] or index_definition
            unique = bool(deferrable_or_unique)
            self.indexes.append(Index(name=name, unique=unique, definition=definition))
            return
        own = attnames.get(relid, {})
        columns = tuple(own.get(k, str(k)) for k in keys or ())
        if kind == "p":
            self.primary_key = PrimaryKey(name=name, columns=columns)
        elif kind == "u":
            self.uniques.append(Unique(name=name, columns=columns, definition=definition))
        elif kind == "c":
            self.checks.append(Check(name=name, expression=definition))
        elif kind == "f":
            if ref_names is None:
                referred = attnames.get(ref_relid, {})
                ref_names = [referred.get(k, str(k)) for k in ref_keys]
            self.foreign_keys.append(
                ForeignKey(
                    name=name,
                    columns=columns,
                    referred_schema=local(ref_schema),
                    referred_table=ref_table,
                    referred_columns=tuple(ref_names),
                    on_update=FK_ACTIONS.get(on_update),
                    on_delete=FK_ACTIONS.get(on_delete),
                    deferrable=_deferrable(deferrable_or_unique, deferred),
                )
            )


def _deferrable(deferrable: bool, deferred: bool) -> str | None:
    if not deferrable:
        return None
    return "DEFERRABLE INITIALLY DEFERRED" if deferred else "DEFERRABLE"
