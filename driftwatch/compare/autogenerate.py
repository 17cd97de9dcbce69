"""Turn alembic's autogenerate diffs into typed findings. Pure: no connection under here.

The input is the documented diff format of `alembic.autogenerate.compare_metadata` (what
`produce_migrations(...).upgrade_ops.as_diffs()` returns): the "old" side is the live
database, the "new" side the models; plus driftwatch's own diffs for enum labels and CHECK
constraints, in the same shape (see `compare.catalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Computed,
    ForeignKeyConstraint,
    Identity,
    Index,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.schema import DefaultClause

from driftwatch.bounds import clip, clip_optional
from driftwatch.compare.catalog import enum_type_change
from driftwatch.findings import Finding, FindingKind

Diff = tuple[Any, ...]
# driftwatch's own diffs, for what alembic does not compare (see compare.catalog)
CATALOG_TAGS = frozenset({"add_enum_values", "remove_enum_values", "add_check", "remove_check"})
# diff tags handled like another one (the handler looks at the tag itself)
ONLY_IN_MODELS = "is in the models but not in the database"
ONLY_IN_DATABASE = "is in the database but not in the models"


def describe_type(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # some reflected or custom types do not compile on every dialect
        return repr(type_)


def describe_sql(element: Any, dialect: Dialect) -> str:
    """SQL text of an expression for `dialect`; never raises (a custom construct may compile
    for other dialects only: then its function name, never a repr with a memory address)."""
    if isinstance(element, str):
        return element
    if isinstance(element, TextClause):
        return element.text
    try:
        return str(element.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except Exception:
        name = getattr(element, "name", None)
        return f"{name}()" if isinstance(name, str) else type(element).__name__


def describe_default(default: Any, dialect: Dialect) -> str | None:
    if default is None or default is False:
        return None
    if isinstance(default, Computed):
        return f"GENERATED ALWAYS AS ({describe_sql(default.sqltext, dialect)})"
    if isinstance(default, Identity):
        return "IDENTITY"
    if isinstance(default, DefaultClause):
        default = default.arg
    return describe_sql(default, dialect)


def describe_column(column: Column[Any], dialect: Dialect) -> str:
    parts = [describe_type(column.type, dialect), "NULL" if column.nullable else "NOT NULL"]
    default = describe_default(column.server_default, dialect)
    if isinstance(column.server_default, Computed):
        parts.append(str(default))
    elif default is not None:
        parts.append(f"DEFAULT {default}")
    return " ".join(parts)


def describe_enum(name: str | None, labels: Iterable[str]) -> str:
    listed = ", ".join(repr(label) for label in labels)
    return f"ENUM {name} ({listed})" if name else f"ENUM ({listed})"


def _columns(names: Iterable[Any], dialect: Dialect) -> str:
    def one(column: Any) -> str:
        name = getattr(column, "name", None)
        return name if isinstance(name, str) else describe_sql(column, dialect)

    return ", ".join(one(c) for c in names)


def describe_index(index: Index, dialect: Dialect) -> str:
    cols = _columns(index.expressions, dialect)
    return f"{'UNIQUE ' if index.unique else ''}INDEX ({cols})"


def describe_unique(constraint: UniqueConstraint, dialect: Dialect) -> str:
    return f"UNIQUE ({_columns(constraint.columns, dialect)})"


def describe_foreign_key(fk: ForeignKeyConstraint) -> str:
    targets = [element.target_fullname for element in fk.elements]
    referred = targets[0].rsplit(".", 1)[0] if targets else "?"
    referred_cols = ", ".join(t.rsplit(".", 1)[-1] for t in targets)
    text = f"({', '.join(fk.column_keys)}) REFERENCES {referred} ({referred_cols})"
    if fk.ondelete:
        text += f" ON DELETE {fk.ondelete.upper()}"
    if fk.onupdate:
        text += f" ON UPDATE {fk.onupdate.upper()}"
    return text


class _Translator:
    def __init__(self, dialect: Dialect, default_schema: str | None) -> None:
        self.dialect = dialect
        self.default_schema = default_schema

    def schema(self, schema: str | None) -> str | None:
        return schema if schema is not None else self.default_schema

    def finding(
        self,
        kind: FindingKind,
        schema: str | None,
        table: str,
        name: str | None,
        *,
        expected: str | None,
        actual: str | None,
        message: str,
    ) -> Finding:
        # every field may carry database text of any length (a comment, a CHECK clause)
        return Finding(
            kind=kind,
            schema=clip_optional(self.schema(schema)),
            table=clip(table),
            name=clip_optional(name),
            expected=clip_optional(expected),
            actual=clip_optional(actual),
            message=clip(message),
        )

    def presence(
        self,
        missing: bool,
        kinds: tuple[FindingKind, FindingKind],
        schema: str | None,
        table: str,
        name: str | None,
        *,
        described: str,
        subject: str,
    ) -> Finding:
        """A finding for an object on one side only: `kinds` is (missing kind, extra kind)."""
        return self.finding(
            kinds[0] if missing else kinds[1],
            schema,
            table,
            name,
            expected=described if missing else None,
            actual=None if missing else described,
            message=f"{subject} {ONLY_IN_MODELS if missing else ONLY_IN_DATABASE}",
        )

    def table_diff(self, tag: str, table: Table, *rest: Any) -> Finding:
        if tag in ("add_table", "remove_table"):
            return self.presence(
                tag == "add_table",
                (FindingKind.MISSING_TABLE, FindingKind.EXTRA_TABLE),
                table.schema,
                table.name,
                None,
                described="table",
                subject=f"table {table.name}",
            )
        if tag == "add_table_comment":  # ("add_table_comment", table, live comment)
            expected, actual = table.comment, (rest[0] if rest else table.comment)
        else:  # ("remove_table_comment", table): the comment is the live one
            expected, actual = None, table.comment
        return self.finding(
            FindingKind.COMMENT_MISMATCH,
            table.schema,
            table.name,
            None,
            expected=expected,
            actual=actual,
            message=f"table {table.name} comment differs",
        )

    def column_presence(
        self, tag: str, schema: str | None, tname: str, col: Column[Any]
    ) -> Finding:
        return self.presence(
            tag == "add_column",
            (FindingKind.MISSING_COLUMN, FindingKind.EXTRA_COLUMN),
            schema,
            tname,
            col.name,
            described=describe_column(col, self.dialect),
            subject=f"column {tname}.{col.name}",
        )

    def column_change(self, diff: Diff) -> Finding:
        tag, schema, tname, cname, _info, live, model = diff
        where = f"{tname}.{cname}"
        exp: str | None
        act: str | None
        if tag == "modify_type":
            exp, act = describe_type(model, self.dialect), describe_type(live, self.dialect)
            kind, what = FindingKind.TYPE_MISMATCH, "type"
        elif tag == "modify_nullable":
            exp = "NULL" if model else "NOT NULL"
            act = "NULL" if live else "NOT NULL"
            kind, what = FindingKind.NULLABLE_MISMATCH, "nullability"
        elif tag == "modify_default":
            exp, act = describe_default(model, self.dialect), describe_default(live, self.dialect)
            kind, what = FindingKind.DEFAULT_MISMATCH, "server default"
            if isinstance(model, Computed) or isinstance(live, Computed):
                kind, what = FindingKind.GENERATED_MISMATCH, "generated expression"
        else:  # modify_comment
            exp, act = model, live
            kind, what = FindingKind.COMMENT_MISMATCH, "comment"
        return self.finding(
            kind,
            schema,
            tname,
            cname,
            expected=exp,
            actual=act,
            message=f"column {where} {what}: models {exp or 'none'}, database {act or 'none'}",
        )

    def index_diff(self, tag: str, index: Index) -> Finding:
        table = index.table
        tname = table.name if table is not None else "?"
        return self.presence(
            tag == "add_index",
            (FindingKind.MISSING_INDEX, FindingKind.EXTRA_INDEX),
            table.schema if table is not None else None,
            tname,
            index.name,
            described=describe_index(index, self.dialect),
            subject=f"index {index.name} on {tname}",
        )

    def enum_values(self, diff: Diff) -> Finding:
        tag, schema, tname, cname, enum_name, model_labels, live_labels, values = diff
        missing = tag == "add_enum_values"
        listed = ", ".join(repr(v) for v in values)
        subject = f"enum {enum_name} of column" if enum_name else "enum column"
        if missing:
            message = f"{subject} {tname}.{cname} lacks {listed} of the models"
        else:
            message = f"{subject} {tname}.{cname} has {listed} the models lack"
        return self.finding(
            FindingKind.MISSING_ENUM_VALUE if missing else FindingKind.EXTRA_ENUM_VALUE,
            schema,
            tname,
            cname,
            expected=describe_enum(enum_name, model_labels),
            actual=describe_enum(enum_name, live_labels),
            message=message,
        )

    def check_diff(self, diff: Diff) -> Finding:
        tag, schema, tname, name, sql = diff
        return self.presence(
            tag == "add_check",
            (FindingKind.MISSING_CHECK, FindingKind.EXTRA_CHECK),
            schema,
            tname,
            name,
            described=sql,
            subject=f"check constraint {name} on {tname}",
        )

    def detail(self, diff: Diff) -> Finding:
        """The finding of a diff below table level (columns, indexes, constraints, enums)."""
        handler = _DETAIL.get(str(diff[0]))
        if handler is not None:
            return handler(self, diff)
        return Finding(
            kind=FindingKind.OTHER,
            schema=None,
            table="?",
            name=None,
            expected=None,
            actual=None,
            message=clip(f"unclassified difference: {diff[0]}"),
        )

    def constraint_diff(self, tag: str, constraint: Any) -> Finding:
        table = constraint.table
        name = constraint.name if isinstance(constraint.name, str) else None
        kinds: tuple[FindingKind, FindingKind]
        if isinstance(constraint, ForeignKeyConstraint):
            kinds = (FindingKind.MISSING_FOREIGN_KEY, FindingKind.EXTRA_FOREIGN_KEY)
            described, label = describe_foreign_key(constraint), "foreign key"
        elif isinstance(constraint, UniqueConstraint):
            kinds = (FindingKind.MISSING_UNIQUE, FindingKind.EXTRA_UNIQUE)
            described, label = describe_unique(constraint, self.dialect), "unique constraint"
        else:
            kinds = (FindingKind.OTHER, FindingKind.OTHER)
            described, label = type(constraint).__name__, "constraint"
        return self.presence(
            tag in ("add_constraint", "add_fk"),
            kinds,
            table.schema,
            table.name,
            name,
            described=described,
            subject=f"{label} {name or described} on {table.name}",
        )


_Handler = Callable[[_Translator, Diff], Finding]
_PRESENCE: _Handler = lambda t, d: t.column_presence(d[0], d[1], d[2], d[3])  # noqa: E731
_CHANGE: _Handler = lambda t, d: t.column_change(d)  # noqa: E731
_INDEX: _Handler = lambda t, d: t.index_diff(d[0], d[1])  # noqa: E731
_CONSTRAINT: _Handler = lambda t, d: t.constraint_diff(d[0], d[1])  # noqa: E731
_ENUM: _Handler = lambda t, d: t.enum_values(d)  # noqa: E731
_CHECK: _Handler = lambda t, d: t.check_diff(d)  # noqa: E731
# diff tag -> the translation of a diff below table level
_DETAIL: dict[str, _Handler] = {
    "add_column": _PRESENCE, "remove_column": _PRESENCE,
    "modify_type": _CHANGE, "modify_nullable": _CHANGE,
    "modify_default": _CHANGE, "modify_comment": _CHANGE,
    "add_index": _INDEX, "remove_index": _INDEX,
    "add_constraint": _CONSTRAINT, "remove_constraint": _CONSTRAINT,
    "add_fk": _CONSTRAINT, "remove_fk": _CONSTRAINT,
    "add_enum_values": _ENUM, "remove_enum_values": _ENUM,
    "add_check": _CHECK, "remove_check": _CHECK,
}  # fmt: skip


def _table_of(diff: Diff, translator: _Translator) -> tuple[str | None, str] | None:
    """(schema, table) a diff belongs to, to drop details of wholly missing or extra tables."""
    tag = diff[0]
    if tag in ("add_column", "remove_column") or tag in CATALOG_TAGS:
        return translator.schema(diff[1]), diff[2]
    obj = diff[1]
    table = getattr(obj, "table", None)
    if table is None:
        return None
    return translator.schema(table.schema), table.name


def findings_from_diffs(
    diffs: Sequence[Diff | list[Diff]], dialect: Dialect, default_schema: str | None
) -> list[Finding]:
    """Translate alembic diffs into findings, sorted by schema, table, kind and name."""
    t = _Translator(dialect, default_schema)
    flat: list[Diff] = []
    for diff in diffs:
        # column modifications arrive as a list of tuples per column
        for one in diff if isinstance(diff, list) else [diff]:
            flat.extend(enum_type_change(one) or [one])

    findings: list[Finding] = []
    whole_tables: set[tuple[str | None, str]] = set()
    for diff in flat:
        tag = diff[0]
        if tag in ("add_table", "remove_table"):
            whole_tables.add((t.schema(diff[1].schema), diff[1].name))
            findings.append(t.table_diff(tag, diff[1]))
        elif tag in ("add_table_comment", "remove_table_comment"):
            findings.append(t.table_diff(tag, *diff[1:]))
    for diff in flat:
        tag = diff[0]
        if tag in ("add_table", "remove_table", "add_table_comment", "remove_table_comment"):
            continue
        if _table_of(diff, t) in whole_tables:
            continue  # a missing table's indexes are missing too; saying so again is noise
        findings.append(t.detail(diff))
    return sorted(findings, key=lambda f: f.sort_key)
