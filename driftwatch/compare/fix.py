"""Fix SQL: the statements that would bring a live object back to its expected state. Pure.

`fix_sql(finding, expected, actual)` writes, for one finding of `diff(expected, actual)`,
the SQL that makes `actual`'s object what `expected` says, in the dialect of the snapshots;
`with_fixes` fills `Finding.fix` on a list of findings. Nothing here runs SQL: the text is
shown to a person (report, `driftwatch check --fix-sql`), who decides.

The SQL is made of the snapshots' own texts (index and constraint definitions, defaults,
types, view queries as the server deparsed them), so it says what the server will accept
back, and of names quoted by SQLAlchemy's identifier preparer of the dialect. Objects of the
default schema are left unqualified: the script is meant for a session on that database.

A fix is one or more statements, each ended by `;`; a line `-- destroys data: ...` comes
before a statement that throws values away (DROP TABLE, DROP COLUMN). Where no SQL can do it
(most of SQLite's ALTER, removing an enum label, a fix too long to show) the fix is None.
Findings are fixed one by one, in their report order: the fixes of several findings may
depend on one another (an enum type created before the column that uses it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TypeVar

from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.dialects.mysql.mariadb import MariaDBDialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import IdentifierPreparer

from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.snapshot import (
    Check,
    Column,
    EnumType,
    ForeignKey,
    Index,
    QualifiedName,
    Sequence,
    Snapshot,
    Table,
    Unique,
    View,
)

DESTROYS_DATA = "-- destroys data"
FIX_CHARS = 20_000  # a longer fix (a table of thousands of columns) is not shown
SQLITE_DROP_COLUMN = (3, 35)  # ALTER TABLE ... DROP COLUMN exists from SQLite 3.35
_NEXTVAL = re.compile(r"nextval\('([^']+)'::regclass\)")
_KEY_SUFFIX = re.compile(r"^(?P<name>.+?)(?P<length>\(\d+\))?(?P<rest>( COLLATE \S+)?( DESC)?)$")

Statements = list[str]
T = TypeVar("T", Index, Unique, Check, ForeignKey)


def fix_sql(finding: Finding, expected: Snapshot, actual: Snapshot) -> str | None:
    """The SQL that would make `actual`'s object of `finding` what `expected` says, or None."""
    return _Fixer(expected, actual).sql(finding)


def with_fixes(findings: Iterable[Finding], expected: Snapshot, actual: Snapshot) -> list[Finding]:
    """`findings` (of `diff(expected, actual)`) with `fix` filled where one can be written."""
    fixer = _Fixer(expected, actual)
    return [replace(finding, fix=fixer.sql(finding)) for finding in findings]


def with_drift_fixes(
    findings: Iterable[Finding], expected: Snapshot, actual: Snapshot
) -> list[Finding]:
    """`findings` with `fix` filled on the drift ones only (`expected`: the state of the
    database's own revision); pending and unmigrated findings are the code's to change."""
    fixer = _Fixer(expected, actual)
    return [
        replace(f, fix=fixer.sql(f)) if f.attribution is Attribution.DRIFT else f for f in findings
    ]


def statements_of(fix: str) -> list[str]:
    """The statements of a fix, without their `;` (for a caller that runs them one by one)."""
    return [part for part in fix.removesuffix(";").split(";\n") if part.strip()]


def _preparer(snapshot: Snapshot) -> IdentifierPreparer:
    dialect: Dialect
    if snapshot.dialect == "postgresql":
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    elif snapshot.dialect == "sqlite":
        dialect = sqlite.dialect()
    elif snapshot.server_version.endswith("-MariaDB"):  # its own reserved words
        dialect = MariaDBDialect()
    else:
        dialect = mysql.dialect()
    preparer: IdentifierPreparer = dialect.identifier_preparer
    return preparer


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("-", 1)[0].split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


class _Fixer:
    """Fixes for the findings of one pair of snapshots; objects looked up by key once."""

    def __init__(self, expected: Snapshot, actual: Snapshot) -> None:
        self.expected = expected
        self.actual = actual
        self.dialect = expected.dialect
        self.mariadb = actual.server_version.endswith("-MariaDB")
        self.preparer = _preparer(actual)
        self.tables = ({t.key: t for t in expected.tables}, {t.key: t for t in actual.tables})
        self.views = ({v.key: v for v in expected.views}, {v.key: v for v in actual.views})
        self.enums = ({e.key: e for e in expected.enums}, {e.key: e for e in actual.enums})
        self.sequences = (
            {s.key: s for s in expected.sequences},
            {s.key: s for s in actual.sequences},
        )
        by_kind: dict[FindingKind, Callable[[Finding, QualifiedName], Statements | None]] = {
            FindingKind.MISSING_TABLE: self.missing_table,
            FindingKind.EXTRA_TABLE: self.extra_table,
            FindingKind.MISSING_COLUMN: self.missing_column,
            FindingKind.EXTRA_COLUMN: self.extra_column,
            FindingKind.TYPE_MISMATCH: self.column_type,
            FindingKind.COLLATION_MISMATCH: self.column_type,
            FindingKind.NULLABLE_MISMATCH: self.nullable,
            FindingKind.DEFAULT_MISMATCH: self.default,
            FindingKind.IDENTITY_MISMATCH: self.identity,
            FindingKind.GENERATED_MISMATCH: self.generated,
            FindingKind.COMMENT_MISMATCH: self.comment,
            FindingKind.PRIMARY_KEY_MISMATCH: self.primary_key,
            FindingKind.MISSING_INDEX: self.index,
            FindingKind.EXTRA_INDEX: self.index,
            FindingKind.INDEX_MISMATCH: self.index,
            FindingKind.MISSING_UNIQUE: self.unique,
            FindingKind.EXTRA_UNIQUE: self.unique,
            FindingKind.UNIQUE_MISMATCH: self.unique,
            FindingKind.MISSING_FOREIGN_KEY: self.foreign_key,
            FindingKind.EXTRA_FOREIGN_KEY: self.foreign_key,
            FindingKind.FOREIGN_KEY_MISMATCH: self.foreign_key,
            FindingKind.MISSING_CHECK: self.check,
            FindingKind.EXTRA_CHECK: self.check,
            FindingKind.CHECK_MISMATCH: self.check,
            FindingKind.MISSING_ENUM_VALUE: self.enum_values,
            FindingKind.EXTRA_ENUM_VALUE: self.enum_values,
            FindingKind.ENUM_ORDER_MISMATCH: self.enum_values,
            FindingKind.MISSING_ENUM: self.enum_type,
            FindingKind.EXTRA_ENUM: self.enum_type,
            FindingKind.MISSING_SEQUENCE: self.sequence,
            FindingKind.EXTRA_SEQUENCE: self.sequence,
            FindingKind.SEQUENCE_MISMATCH: self.sequence,
            FindingKind.MISSING_VIEW: self.view,
            FindingKind.EXTRA_VIEW: self.view,
            FindingKind.VIEW_MISMATCH: self.view,
        }
        self.by_kind = by_kind

    def sql(self, finding: Finding) -> str | None:
        write = self.by_kind.get(finding.kind)
        if write is None:
            return None
        # a finding names the default schema as the live database calls it; snapshots say None
        schema = None if finding.schema == self.actual.default_schema else finding.schema
        statements = write(finding, (schema, finding.table))
        if not statements:
            return None
        text = ";\n".join(statements) + ";"
        return text if len(text) <= FIX_CHARS else None

    # --- names and literals -----------------------------------------------------------

    def name(self, name: str) -> str:
        return self.preparer.quote(name)

    def qualified(self, schema: str | None, name: str) -> str:
        if schema is None:
            return self.name(name)
        return f"{self.preparer.quote_schema(schema)}.{self.name(name)}"

    def names(self, names: Iterable[str]) -> str:
        return ", ".join(self.name(n) for n in names)

    def literal(self, text: str | None) -> str:
        if text is None:
            return "NULL"
        if self.dialect == "mysql":  # backslash is an escape in MySQL's strings
            text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", "''") + "'"

    def alter(self, key: QualifiedName) -> str:
        return f"ALTER TABLE {self.qualified(*key)}"

    # --- finding the objects ----------------------------------------------------------

    def table_pair(self, key: QualifiedName) -> tuple[Table | None, Table | None]:
        return self.tables[0].get(key), self.tables[1].get(key)

    def column_pair(
        self, finding: Finding, key: QualifiedName
    ) -> tuple[Table, Column, Column] | None:
        """Expected table, expected column and live column of a column finding."""
        want, have = self.table_pair(key)
        if want is None or have is None or finding.name is None:
            return None
        one = _named(want.columns, finding.name)
        other = _named(have.columns, finding.name)
        if one is None or other is None:
            return None
        return want, one, other

    # --- tables -----------------------------------------------------------------------

    def extra_table(self, _finding: Finding, key: QualifiedName) -> Statements | None:
        if self.table_pair(key)[1] is None:
            return None
        return [
            _warning(f"drops table {key[1]} and its rows") + f"DROP TABLE {self.qualified(*key)}"
        ]

    def missing_table(self, _finding: Finding, key: QualifiedName) -> Statements | None:
        table = self.table_pair(key)[0]
        if table is None:
            return None
        if self.dialect == "postgresql":
            return self.create_table_postgresql(table)
        if self.dialect == "mysql":
            return self.create_table_mysql(table)
        return self.create_table_sqlite(table)

    def create_table_postgresql(self, table: Table) -> Statements:
        before = []  # the sequences of its serial columns went with it
        after = []
        for sequence in self.expected.sequences:
            owner = sequence.owned_by.rpartition(".") if sequence.owned_by else None
            if owner is None or (sequence.schema, owner[0]) != table.key:
                continue
            if sequence.key not in self.sequences[1]:
                before.append(self.create_sequence(sequence))
            after.append(self.owned_by(sequence))
        parts = [self.column_postgresql(c) for c in table.columns]
        if table.primary_key is not None:
            parts.append(self.constraint(table.primary_key.name, self.primary_key_clause(table)))
        parts += [self.constraint(u.name, u.definition) for u in table.uniques]
        parts += [self.constraint(c.name, c.expression) for c in table.checks]
        parts += [self.constraint(f.name, self.references(f)) for f in table.foreign_keys]
        create = self.create_table_text(table, parts)
        indexes = [self.create_index(table.key, index) for index in table.indexes]
        comments = []
        if table.comment is not None:
            comments.append(self.comment_on("TABLE", table.key, table.comment))
        for column in table.columns:
            if column.comment is not None:
                comments.append(self.column_comment(table.key, column))
        return [*before, create, *after, *indexes, *comments]

    def create_table_mysql(self, table: Table) -> Statements:
        parts = [self.column_mysql(c) for c in table.columns]
        if table.primary_key is not None:
            parts.append(self.primary_key_clause(table))
        # indexes inside the table, so that a foreign key finds its own and makes none
        parts += [self.mysql_index_clause(table, index) for index in table.indexes]
        parts += [self.constraint(c.name, c.expression) for c in table.checks]
        parts += [self.constraint(f.name, self.references(f)) for f in table.foreign_keys]
        create = self.create_table_text(table, parts)
        if table.comment is not None:
            create += f" COMMENT={self.literal(table.comment)}"
        return [create]

    def create_table_sqlite(self, table: Table) -> Statements:
        autoincrement = next((c for c in table.columns if c.identity == "autoincrement"), None)
        parts = []
        for column in table.columns:
            text = self.column_sqlite(column)
            if column is autoincrement:
                text += " PRIMARY KEY AUTOINCREMENT"
            parts.append(text)
        if table.primary_key is not None and autoincrement is None:
            parts.append(self.constraint(table.primary_key.name, self.primary_key_clause(table)))
        parts += [
            self.constraint(u.name, f"UNIQUE ({self.names(u.columns)})") for u in table.uniques
        ]
        parts += [self.constraint(c.name, c.expression) for c in table.checks]
        parts += [self.constraint(f.name, self.references(f)) for f in table.foreign_keys]
        create = self.create_table_text(table, parts)
        return [create, *(self.create_index(table.key, index) for index in table.indexes)]

    def create_table_text(self, table: Table, parts: list[str]) -> str:
        body = ",\n".join(f"    {part}" for part in parts)
        return f"CREATE TABLE {self.qualified(*table.key)} (\n{body}\n)"

    def constraint(self, name: str | None, clause: str) -> str:
        return clause if name is None else f"CONSTRAINT {self.name(name)} {clause}"

    def primary_key_clause(self, table: Table) -> str:
        assert table.primary_key is not None
        return f"PRIMARY KEY ({self.keys(table, table.primary_key.columns)})"

    # --- columns ----------------------------------------------------------------------

    def column_definition(self, column: Column) -> str:
        if self.dialect == "postgresql":
            return self.column_postgresql(column)
        if self.dialect == "mysql":
            return self.column_mysql(column)
        return self.column_sqlite(column)

    def column_postgresql(self, column: Column) -> str:
        parts = [self.name(column.name), column.type]
        if column.collation is not None:
            parts.append(f"COLLATE {self.name(column.collation)}")
        if column.generated is not None:
            kind = "VIRTUAL" if column.generated_kind == "virtual" else "STORED"
            parts.append(f"GENERATED ALWAYS AS ({column.generated}) {kind}")
        elif column.identity is not None:
            parts.append(f"GENERATED {column.identity.upper()} AS IDENTITY")
        elif column.default is not None:
            parts.append(f"DEFAULT {column.default}")
        if not column.nullable:
            parts.append("NOT NULL")
        return " ".join(parts)

    def column_mysql(self, column: Column) -> str:
        parts = [self.name(column.name), column.type]
        if column.collation is not None:
            parts.append(f"COLLATE {column.collation}")
        if column.generated is not None:
            kind = "STORED" if column.generated_kind == "stored" else "VIRTUAL"
            parts.append(f"GENERATED ALWAYS AS ({column.generated}) {kind}")
        else:
            parts.append("NULL" if column.nullable else "NOT NULL")
            if column.default is not None:
                parts.append(f"DEFAULT {column.default}")
            if column.identity == "auto_increment":
                parts.append("AUTO_INCREMENT")
        if column.comment is not None:
            parts.append(f"COMMENT {self.literal(column.comment)}")
        return " ".join(parts)

    def column_sqlite(self, column: Column) -> str:
        parts = [self.name(column.name)]
        if column.type:
            parts.append(column.type)
        if not column.nullable:
            parts.append("NOT NULL")
        if column.default is not None:
            parts.append(f"DEFAULT {column.default}")
        if column.collation is not None:
            parts.append(f"COLLATE {column.collation}")
        if column.generated is not None:
            kind = "STORED" if column.generated_kind == "stored" else "VIRTUAL"
            parts.append(f"GENERATED ALWAYS AS ({column.generated}) {kind}")
        return " ".join(parts)

    def modify(self, key: QualifiedName, column: Column) -> Statements:
        """MySQL restates a column whole: what differs is put back with the rest."""
        return [f"{self.alter(key)} MODIFY COLUMN {self.column_mysql(column)}"]

    def alter_column(self, key: QualifiedName, column: Column, change: str) -> str:
        return f"{self.alter(key)} ALTER COLUMN {self.name(column.name)} {change}"

    def column_comment(self, key: QualifiedName, column: Column) -> str:
        target = f"{self.qualified(*key)}.{self.name(column.name)}"
        return f"COMMENT ON COLUMN {target} IS {self.literal(column.comment)}"

    def missing_column(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        column = _named(want.columns, finding.name) if want and finding.name else None
        if column is None or have is None:
            return None
        if self.dialect == "sqlite" and not _sqlite_can_add(column):
            return None
        add = [f"{self.alter(key)} ADD COLUMN {self.column_definition(column)}"]
        if self.dialect == "postgresql" and column.comment is not None:
            add.append(self.column_comment(key, column))
        return add

    def extra_column(self, finding: Finding, key: QualifiedName) -> Statements | None:
        if finding.name is None or self.table_pair(key)[1] is None:
            return None
        if self.dialect == "sqlite" and _version(self.actual.server_version) < SQLITE_DROP_COLUMN:
            return None
        drop = f"{self.alter(key)} DROP COLUMN {self.name(finding.name)}"
        return [_warning(f"drops column {key[1]}.{finding.name} and its values") + drop]

    def column_type(self, finding: Finding, key: QualifiedName) -> Statements | None:
        pair = self.column_pair(finding, key)
        if pair is None or self.dialect == "sqlite":
            return None
        _, want, _ = pair
        if self.dialect == "mysql":
            return self.modify(key, want)
        change = f"TYPE {want.type}"
        if want.collation is not None or finding.kind is FindingKind.COLLATION_MISMATCH:
            change += f" COLLATE {self.name(want.collation or 'default')}"
        if finding.kind is FindingKind.TYPE_MISMATCH:
            change += f" USING {self.name(want.name)}::{want.type}"
        return [self.alter_column(key, want, change)]

    def nullable(self, finding: Finding, key: QualifiedName) -> Statements | None:
        pair = self.column_pair(finding, key)
        if pair is None or self.dialect == "sqlite":
            return None
        _, want, _ = pair
        if self.dialect == "mysql":
            return self.modify(key, want)
        return [self.alter_column(key, want, "DROP NOT NULL" if want.nullable else "SET NOT NULL")]

    def default(self, finding: Finding, key: QualifiedName) -> Statements | None:
        pair = self.column_pair(finding, key)
        if pair is None or self.dialect == "sqlite":
            return None
        _, want, have = pair
        if self.dialect == "mysql":
            return self.modify(key, want)
        if want.identity != have.identity or want.generated != have.generated:
            return None  # the identity or generation fix puts the default back with it
        if want.default is None:
            return [self.alter_column(key, want, "DROP DEFAULT")]
        fix = [self.create_sequence(s) for s in self.missing_sequences_of(want.default)]
        return [*fix, self.alter_column(key, want, f"SET DEFAULT {want.default}")]

    def missing_sequences_of(self, default: str) -> Iterator[Sequence]:
        """The expected sequences a default draws from that the live database lacks (a
        serial column's, dropped with its default)."""
        for name in _NEXTVAL.findall(default):
            for sequence in self.expected.sequences:
                schema = self.expected.schema_name(sequence.schema)
                if name in (sequence.name, f"{schema}.{sequence.name}") and (
                    sequence.key not in self.sequences[1]
                ):
                    yield sequence

    def identity(self, finding: Finding, key: QualifiedName) -> Statements | None:
        pair = self.column_pair(finding, key)
        if pair is None or self.dialect == "sqlite":
            return None
        _, want, have = pair
        if self.dialect == "mysql":
            return self.modify(key, want)
        if want.identity is None:
            fix = [self.alter_column(key, want, "DROP IDENTITY")]
            if want.default is not None:
                fix.append(self.alter_column(key, want, f"SET DEFAULT {want.default}"))
            return fix
        kind = want.identity.upper()
        if have.identity is not None:
            return [self.alter_column(key, want, f"SET GENERATED {kind}")]
        fix = []
        if have.default is not None:
            fix.append(self.alter_column(key, want, "DROP DEFAULT"))
        if have.nullable:
            fix.append(self.alter_column(key, want, "SET NOT NULL"))
        fix.append(self.alter_column(key, want, f"ADD GENERATED {kind} AS IDENTITY"))
        return fix

    def generated(self, finding: Finding, key: QualifiedName) -> Statements | None:
        pair = self.column_pair(finding, key)
        if pair is None or self.dialect == "sqlite":
            return None
        _, want, have = pair
        if self.dialect == "mysql":
            return self.modify(key, want)
        if want.generated is None:  # the values computed so far stay as plain values
            fix = [self.alter_column(key, want, "DROP EXPRESSION")]
            if want.default is not None:
                fix.append(self.alter_column(key, want, f"SET DEFAULT {want.default}"))
            return fix
        drop = f"{self.alter(key)} DROP COLUMN {self.name(want.name)}"
        if have.generated is None:
            drop = _warning(f"column {key[1]}.{want.name} is re-created") + drop
        fix = [drop, f"{self.alter(key)} ADD COLUMN {self.column_postgresql(want)}"]
        if want.comment is not None:
            fix.append(self.column_comment(key, want))
        return fix

    # --- comments ---------------------------------------------------------------------

    def comment(self, finding: Finding, key: QualifiedName) -> Statements | None:
        if self.dialect == "sqlite":
            return None
        if finding.name is not None:
            pair = self.column_pair(finding, key)
            if pair is None:
                return None
            _, want, _ = pair
            if self.dialect == "mysql":
                return self.modify(key, want)
            return [self.column_comment(key, want)]
        return self.relation_comment(key)

    def relation_comment(self, key: QualifiedName) -> Statements | None:
        table = self.table_pair(key)[0]
        if table is not None:
            if self.dialect == "mysql":
                return [f"{self.alter(key)} COMMENT = {self.literal(table.comment or '')}"]
            return [self.comment_on("TABLE", key, table.comment)]
        view = self.views[0].get(key)
        if view is None or self.dialect != "postgresql":
            return None
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        return [self.comment_on(kind, key, view.comment)]

    def comment_on(self, kind: str, key: QualifiedName, comment: str | None) -> str:
        return f"COMMENT ON {kind} {self.qualified(*key)} IS {self.literal(comment)}"

    # --- keys and constraints ---------------------------------------------------------

    def primary_key(self, _finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        if want is None or have is None or self.dialect == "sqlite":
            return None
        if self.dialect == "mysql":
            changes = []
            if have.primary_key is not None:
                changes.append("DROP PRIMARY KEY")
            if want.primary_key is not None:
                changes.append(f"ADD {self.primary_key_clause(want)}")
            return [f"{self.alter(key)} {', '.join(changes)}"]
        fix = []
        if have.primary_key is not None and have.primary_key.name is not None:
            fix.append(f"{self.alter(key)} DROP CONSTRAINT {self.name(have.primary_key.name)}")
        if want.primary_key is not None:
            clause = self.constraint(want.primary_key.name, self.primary_key_clause(want))
            fix.append(f"{self.alter(key)} ADD {clause}")
        return fix

    def index(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        if want is None or have is None:
            return None
        one, other = _sides(finding, want.indexes, have.indexes, _index_text)
        fix = []
        if other is not None:
            fix.append(self.drop_index(key, other))
        if one is not None:
            fix.append(self.create_index(key, one, want))
        return fix if _complete(finding, one, other) else None

    def drop_index(self, key: QualifiedName, index: Index) -> str:
        if self.dialect == "mysql":
            return f"DROP INDEX {self.name(index.name)} ON {self.qualified(*key)}"
        return f"DROP INDEX {self.qualified(key[0], index.name)}"

    def create_index(self, key: QualifiedName, index: Index, table: Table | None = None) -> str:
        table = table or self.tables[0].get(key)
        unique = "UNIQUE " if index.unique else ""
        name, on = self.name(index.name), self.qualified(*key)
        if self.dialect == "postgresql":
            return f"CREATE {unique}INDEX {name} ON {on} USING {index.definition}"
        if self.dialect == "mysql":
            kind, keys, rest = _split_definition(index.definition)
            keys = self.keys(table, _top_level(keys))
            if kind in ("FULLTEXT", "SPATIAL"):
                return f"CREATE {kind} INDEX {name} ON {on} ({keys}){rest}"
            return f"CREATE {unique}INDEX {name} USING {kind} ON {on} ({keys}){rest}"
        _, keys, rest = _split_definition(index.definition)
        return f"CREATE {unique}INDEX {name} ON {on} ({self.keys(table, _top_level(keys))}){rest}"

    def mysql_index_clause(self, table: Table, index: Index) -> str:
        kind, keys, rest = _split_definition(index.definition)
        quoted = self.keys(table, _top_level(keys))
        if kind in ("FULLTEXT", "SPATIAL"):
            return f"{kind} INDEX {self.name(index.name)} ({quoted}){rest}"
        unique = "UNIQUE " if index.unique else ""
        return f"{unique}INDEX {self.name(index.name)} USING {kind} ({quoted}){rest}"

    def keys(self, table: Table | None, keys: Iterable[str]) -> str:
        """Index or key parts with the column names quoted; expressions stay as printed."""
        columns = {c.name for c in table.columns} if table is not None else set()
        quoted = []
        for key in keys:
            match = _KEY_SUFFIX.match(key)
            if match is not None and match["name"] in columns:
                quoted.append(self.name(match["name"]) + (match["length"] or "") + match["rest"])
            else:
                quoted.append(self.name(key) if key in columns else key)
        return ", ".join(quoted)

    def unique(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        if want is None or have is None or self.dialect != "postgresql":
            return None  # MySQL's are unique indexes; SQLite cannot alter its constraints
        one, other = _sides(finding, want.uniques, have.uniques, _unique_text)
        return self.replace_constraint(finding, key, one, other, one.definition if one else None)

    def check(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        if want is None or have is None or self.dialect == "sqlite":
            return None
        one, other = _sides(finding, want.checks, have.checks, _check_text)
        return self.replace_constraint(finding, key, one, other, one.expression if one else None)

    def foreign_key(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.table_pair(key)
        if want is None or have is None or self.dialect == "sqlite":
            return None
        one, other = _sides(finding, want.foreign_keys, have.foreign_keys, self.references)
        clause = self.references(one) if one else None
        return self.replace_constraint(finding, key, one, other, clause)

    def replace_constraint(
        self,
        finding: Finding,
        key: QualifiedName,
        one: Unique | Check | ForeignKey | None,
        other: Unique | Check | ForeignKey | None,
        clause: str | None,
    ) -> Statements | None:
        """Drop the live constraint `other`, add the expected `one` (as `clause`)."""
        if not _complete(finding, one, other) or (other is not None and other.name is None):
            return None
        fix = []
        if other is not None:
            assert other.name is not None
            drop = "CONSTRAINT"
            if self.dialect == "mysql" and isinstance(other, ForeignKey):
                drop = "FOREIGN KEY"
            elif self.dialect == "mysql" and isinstance(other, Check) and not self.mariadb:
                drop = "CHECK"
            fix.append(f"{self.alter(key)} DROP {drop} {self.name(other.name)}")
        if one is not None and clause is not None:
            fix.append(f"{self.alter(key)} ADD {self.constraint(one.name, clause)}")
        return fix

    def references(self, fk: ForeignKey) -> str:
        text = (
            f"FOREIGN KEY ({self.names(fk.columns)}) REFERENCES "
            f"{self.qualified(fk.referred_schema, fk.referred_table)} "
            f"({self.names(fk.referred_columns)})"
        )
        for clause, action in (("ON UPDATE", fk.on_update), ("ON DELETE", fk.on_delete)):
            if action:
                text += f" {clause} {action}"
        if fk.deferrable and self.dialect != "mysql":
            text += f" {fk.deferrable}"
        return text

    # --- enums ------------------------------------------------------------------------

    def enum_values(self, finding: Finding, key: QualifiedName) -> Statements | None:
        if self.dialect == "mysql":  # an ENUM column type: restated whole
            pair = self.column_pair(finding, key)
            return None if pair is None else self.modify(key, pair[1])
        if self.dialect != "postgresql" or finding.kind is not FindingKind.MISSING_ENUM_VALUE:
            return None  # PostgreSQL cannot remove or move a label: the type must be rebuilt
        enum_key = self.enum_of(finding, key)
        want = self.enums[0].get(enum_key) if enum_key else None
        have = self.enums[1].get(enum_key) if enum_key else None
        if want is None or have is None:
            return None
        fix = []
        labels = list(have.labels)
        for position, label in enumerate(want.labels):
            if label in labels:
                continue
            add = f"ALTER TYPE {self.qualified(*want.key)} ADD VALUE IF NOT EXISTS "
            add += self.literal(label)
            following = next((lb for lb in want.labels[position + 1 :] if lb in labels), None)
            if following is not None:
                add += f" BEFORE {self.literal(following)}"
                labels.insert(labels.index(following), label)
            elif labels:
                add += f" AFTER {self.literal(labels[-1])}"
                labels.append(label)
            else:
                labels.append(label)
            fix.append(add)
        return fix

    def enum_of(self, finding: Finding, key: QualifiedName) -> QualifiedName | None:
        """The enum type a label finding is about: its column's type, or the type itself."""
        if finding.name is None:
            return key
        table = self.tables[0].get(key)
        column = _named(table.columns, finding.name) if table else None
        if column is None:
            return None
        type_name = column.type.removesuffix("[]")
        for enum in self.expected.enums:
            names = {enum.name, f"{self.expected.schema_name(enum.schema)}.{enum.name}"}
            if type_name in names:
                return enum.key
        return None

    def enum_type(self, finding: Finding, key: QualifiedName) -> Statements | None:
        if finding.kind is FindingKind.EXTRA_ENUM:
            return [f"DROP TYPE {self.qualified(*key)}"] if key in self.enums[1] else None
        enum: EnumType | None = self.enums[0].get(key)
        if enum is None:
            return None
        labels = ", ".join(self.literal(label) for label in enum.labels)
        return [f"CREATE TYPE {self.qualified(*key)} AS ENUM ({labels})"]

    # --- sequences and views ----------------------------------------------------------

    def sequence(self, finding: Finding, key: QualifiedName) -> Statements | None:
        if self.dialect != "postgresql":
            return None
        want, have = self.sequences[0].get(key), self.sequences[1].get(key)
        if finding.kind is FindingKind.EXTRA_SEQUENCE:
            return [f"DROP SEQUENCE {self.qualified(*key)}"] if have is not None else None
        if want is None:
            return None
        if have is None:
            fix = [self.create_sequence(want)]
            if want.owned_by is not None:
                fix += [self.owned_by(want), self.restart_after_values(want)]
            return fix
        fix = []
        if want.definition != have.definition:
            cycle = "" if want.definition.endswith(" CYCLE") else " NO CYCLE"
            fix.append(f"ALTER SEQUENCE {self.qualified(*key)} AS {want.definition}{cycle}")
        if want.owned_by != have.owned_by:
            fix.append(self.owned_by(want))
        return fix

    def create_sequence(self, sequence: Sequence) -> str:
        # the definition is "type START n INCREMENT n MINVALUE n MAXVALUE n CACHE n [CYCLE]",
        # which CREATE SEQUENCE ... AS reads as it is
        # IF NOT EXISTS: the fix of a default drawing from it may have made it already
        name = self.qualified(*sequence.key)
        return f"CREATE SEQUENCE IF NOT EXISTS {name} AS {sequence.definition}"

    def owned_by(self, sequence: Sequence) -> str:
        owner = "NONE"
        if sequence.owned_by is not None:
            table, _, column = sequence.owned_by.rpartition(".")
            owner = f"{self.qualified(sequence.schema, table)}.{self.name(column)}"
        return f"ALTER SEQUENCE {self.qualified(*sequence.key)} OWNED BY {owner}"

    def restart_after_values(self, sequence: Sequence) -> str:
        """A re-created serial sequence continues after the values its column holds."""
        assert sequence.owned_by is not None
        table, _, column = sequence.owned_by.rpartition(".")
        name = self.literal(self.qualified(*sequence.key))
        return (
            f"SELECT setval({name}, coalesce(max({self.name(column)}), 0) + 1, false) "
            f"FROM {self.qualified(sequence.schema, table)}"
        )

    def view(self, finding: Finding, key: QualifiedName) -> Statements | None:
        want, have = self.views[0].get(key), self.views[1].get(key)
        fix = []
        if have is not None and (
            want is None or self.dialect == "sqlite" or want.materialized or have.materialized
        ):
            fix.append(self.drop_view(have))
        if want is not None:
            replaceable = have is not None and not fix and self.dialect != "sqlite"
            fix.append(self.create_view(want, or_replace=replaceable))
            if self.dialect == "postgresql" and want.comment is not None:
                kind = "MATERIALIZED VIEW" if want.materialized else "VIEW"
                fix.append(self.comment_on(kind, key, want.comment))
        return fix if _complete(finding, want, have) else None

    def drop_view(self, view: View) -> str:
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        return f"DROP {kind} {self.qualified(*view.key)}"

    def create_view(self, view: View, *, or_replace: bool) -> str:
        kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
        verb = "CREATE OR REPLACE" if or_replace else "CREATE"
        query = view.definition.rstrip().removesuffix(";")
        return f"{verb} {kind} {self.qualified(*view.key)} AS\n{query}"


# --- helpers --------------------------------------------------------------------------


def comment_line(text: str) -> str:
    """`text` as one SQL comment line: a name of the database's with a line break in it must
    not end the comment and become a statement."""
    return "-- " + " ".join(text.split())


def _warning(text: str) -> str:
    return comment_line(f"{DESTROYS_DATA.removeprefix('-- ')}: {text}") + "\n"


def _named(columns: Iterable[Column], name: str) -> Column | None:
    return next((c for c in columns if c.name == name), None)


def _sqlite_can_add(column: Column) -> bool:
    """What SQLite's ADD COLUMN takes: no stored generation, a constant default, and a
    default where NOT NULL is asked."""
    if column.generated is not None:
        return column.generated_kind == "virtual"
    default = column.default
    if default is not None and (default.startswith("(") or default.upper().startswith("CURRENT_")):
        return False
    return column.nullable or default is not None


def _index_text(index: Index) -> str:
    return f"{index.unique}{index.definition}"


def _unique_text(unique: Unique) -> str:
    return unique.definition


def _check_text(check: Check) -> str:
    return check.expression


def _sides(
    finding: Finding,
    want: Iterable[T],
    have: Iterable[T],
    signature: Callable[[T], str],
) -> tuple[T | None, T | None]:
    """The expected and the live object of a constraint or index finding.

    By name (the diff pairs by name first); an unnamed one, which only SQLite keeps, is
    the one of its side that the other side has nothing of the same signature for.
    """
    missing, extra = _wanted_sides(finding.kind)

    def pick(objects: Iterable[T], others: Iterable[T]) -> T | None:
        objects = list(objects)
        if finding.name is not None:
            return next((o for o in objects if o.name == finding.name), None)
        taken = {signature(o) for o in others}
        return next((o for o in objects if o.name is None and signature(o) not in taken), None)

    return (
        pick(want, have) if missing else None,
        pick(have, want) if extra else None,
    )


def _wanted_sides(kind: FindingKind) -> tuple[bool, bool]:
    """Whether a finding of `kind` has an expected side and a live side."""
    name = kind.value
    return (not name.startswith("extra_"), not name.startswith("missing_"))


def _complete(finding: Finding, one: object | None, other: object | None) -> bool:
    """Both sides the finding's kind speaks of were found."""
    missing, extra = _wanted_sides(finding.kind)
    return (one is not None or not missing) and (other is not None or not extra)


def _split_definition(definition: str) -> tuple[str, str, str]:
    """An index definition as (what precedes its keys, the keys, what follows them)."""
    start = definition.find("(")
    depth = 0
    for position in range(start, len(definition)):
        char = definition[position]
        depth += char == "("
        depth -= char == ")"
        if depth == 0:
            return (
                definition[:start].strip(),
                definition[start + 1 : position],
                definition[position + 1 :],
            )
    return definition[:start].strip(), definition[start + 1 :], ""


def _top_level(keys: str) -> Iterator[str]:
    """The comma-separated parts of a key list, commas inside parentheses left alone."""
    depth, current = 0, list[str]()
    for char in keys:
        if char == "," and depth == 0:
            yield "".join(current).strip()
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    if current:
        yield "".join(current).strip()
