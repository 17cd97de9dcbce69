"""Compare what alembic's autogenerate leaves out: enum labels and CHECK constraints. Pure.

alembic compares a PostgreSQL enum column by its type's name only, so a label added to the
models' enum without a migration (the classic `ALTER TYPE ... ADD VALUE` forgotten) is not
drift to it, and it does not compare CHECK constraints at all. The live side arrives as plain
values (`catalog.read_catalog`); the output is diff tuples in the same shape as alembic's, so
`compare.findings_from_diffs` turns both into findings in one place:

    ("add_enum_values" | "remove_enum_values", schema, table, column, enum name,
        models' labels, live labels, the labels on one side only)
    ("add_check" | "remove_check", schema, table, constraint name, SQL text)

"add" means the models have it and the database does not, as in alembic's own diffs.

CHECK constraints are matched by name: a database rewrites the SQL text of a constraint in its
own words (PostgreSQL: `total >= 0` becomes `total >= (0)::numeric`), so the text is shown,
never compared. A table whose models carry an unnamed CHECK constraint is not searched for
extra ones, since the database named that constraint itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import CheckConstraint, Enum, MetaData, Table
from sqlalchemy.engine import Dialect

TableKey = tuple[str | None, str]  # (schema, None for the default one; table or type name)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveCatalog:
    enums: Mapping[TableKey, tuple[str, ...]]  # PostgreSQL enum types: labels in sort order
    checks: Mapping[TableKey, Mapping[str | None, str]]  # per table: name -> SQL text


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumUse:
    """A models' column whose type is a named native enum of the database."""

    schema: str | None
    table: str
    column: str
    type_key: TableKey
    labels: tuple[str, ...]


def local_schema(schema: str | None, default_schema: str | None) -> str | None:
    """A schema as the models write it: None for the database's default one."""
    return None if schema == default_schema else schema


def native_enum_uses(
    tables: Iterable[Table], dialect: Dialect, default_schema: str | None
) -> list[EnumUse]:
    """Columns typed with a named enum that `dialect` creates as a type of its own."""
    if dialect.name != "postgresql":
        return []  # MySQL's ENUM is a column type alembic compares; SQLite has none
    uses = []
    for table in tables:
        for column in table.columns:
            impl = column.type.dialect_impl(dialect)
            if not isinstance(impl, Enum) or not impl.native_enum or not impl.name:
                continue
            # a type without a schema of its own is created where unqualified names go,
            # whatever the table's schema (SQLAlchemy gives it the MetaData's schema, if any)
            type_schema = impl.schema
            uses.append(
                EnumUse(
                    schema=local_schema(table.schema, default_schema),
                    table=table.name,
                    column=column.name,
                    type_key=(local_schema(type_schema, default_schema), str(impl.name)),
                    labels=tuple(impl.enums),
                )
            )
    return uses


@functools.lru_cache(maxsize=64)
def explicit_enum_schemas(metadata: MetaData) -> frozenset[str]:
    """Schemas the models name for their enum types (a daemon's fingerprint watches them too:
    a label added to a type kept apart from the tables must move it)."""
    return frozenset(
        str(column.type.schema)
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, Enum) and column.type.schema
    )


def enum_schemas(uses: Iterable[EnumUse], default_schema: str | None) -> set[str]:
    return {
        name
        for use in uses
        if (name := use.type_key[0] if use.type_key[0] is not None else default_schema)
    }


def _check_name(constraint: CheckConstraint, dialect: Dialect) -> str | None:
    """The name the constraint has in the database: naming convention and truncation applied."""
    if constraint.name is None:
        return None
    try:
        name = dialect.identifier_preparer.format_constraint(constraint, _alembic_quote=False)
    except Exception:  # an over-long explicit name is refused by the dialect
        return constraint.name if isinstance(constraint.name, str) else None
    return str(name) if name else None


def _check_sql(constraint: CheckConstraint, dialect: Dialect) -> str:
    try:
        compiled = constraint.sqltext.compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}
        )
        return f"CHECK ({compiled})"
    except Exception:
        return f"CHECK ({constraint.sqltext})"


def _fold(name: str | None, dialect: Dialect) -> str | None:
    # MySQL and MariaDB compare constraint names without regard to case
    return name.lower() if name is not None and dialect.name == "mysql" else name


def _label_diffs(
    where: tuple[str | None, str, str, str | None],
    model_labels: tuple[str, ...],
    live_labels: tuple[str, ...],
) -> list[tuple[Any, ...]]:
    missing = tuple(label for label in model_labels if label not in live_labels)
    extra = tuple(label for label in live_labels if label not in model_labels)
    return [
        (tag, *where, model_labels, live_labels, values)
        for tag, values in (("add_enum_values", missing), ("remove_enum_values", extra))
        if values
    ]


def enum_diffs(uses: Iterable[EnumUse], live: LiveCatalog) -> list[tuple[Any, ...]]:
    diffs: list[tuple[Any, ...]] = []
    for use in uses:
        live_labels = live.enums.get(use.type_key)
        if live_labels is None:
            continue  # no such type: the column's type differs, which alembic reports
        where = (use.schema, use.table, use.column, use.type_key[1])
        diffs.extend(_label_diffs(where, use.labels, live_labels))
    return diffs


def enum_type_change(diff: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
    """alembic's type change of an enum column (MySQL's ENUM) as label diffs, if only labels
    differ; None for any other diff, which stays as it is."""
    if diff[0] != "modify_type":
        return None
    _tag, schema, table, column, _info, live, model = diff
    if not isinstance(live, Enum) or not isinstance(model, Enum):
        return None
    if live.name is not None and live.name != model.name:
        return None  # another type (a PostgreSQL enum renamed): a type change, as alembic says
    name = str(model.name) if model.name else None
    labels = _label_diffs((schema, table, column, name), tuple(model.enums), tuple(live.enums))
    return labels or None  # the same labels in another order: a plain type change


def _model_checks(table: Table, dialect: Dialect) -> list[CheckConstraint]:
    """The CHECK constraints the models create on `dialect`: the table's and its columns',
    less those a type adds only where it is not native (Enum/Boolean create_constraint)."""
    found = [c for c in table.constraints if isinstance(c, CheckConstraint)]
    for column in table.columns:
        found.extend(c for c in column.constraints if isinstance(c, CheckConstraint))
    compiler = SimpleNamespace(dialect=dialect)  # what a create rule reads of its compiler
    return [c for c in found if c._create_rule is None or c._create_rule(compiler)]


def check_diffs(
    table: Table, live: LiveCatalog, dialect: Dialect, default_schema: str | None
) -> list[tuple[Any, ...]]:
    schema = local_schema(table.schema, default_schema)
    live_checks = live.checks.get((schema, table.name), {})
    live_names = {_fold(name, dialect): name for name in live_checks if name is not None}
    diffs: list[tuple[Any, ...]] = []
    model_names: set[str | None] = set()
    unnamed = False
    for constraint in _model_checks(table, dialect):
        name = _check_name(constraint, dialect)
        if name is None:
            unnamed = True
            continue
        model_names.add(_fold(name, dialect))
        if _fold(name, dialect) not in live_names:
            diffs.append(("add_check", schema, table.name, name, _check_sql(constraint, dialect)))
    if not unnamed:
        for folded, name in sorted(live_names.items(), key=lambda item: str(item[0])):
            if folded not in model_names:
                diffs.append(("remove_check", schema, table.name, name, live_checks[name]))
    return diffs


def schemas_without_live_checks(
    tables: Iterable[Table], live: LiveCatalog, dialect: Dialect, default_schema: str | None
) -> set[str | None]:
    """Schemas where the models' tables have CHECK constraints and no live table shows one:
    on MySQL/MariaDB what a user granted table by table sees (see privileges)."""
    expecting = {
        local_schema(t.schema, default_schema) for t in tables if _model_checks(t, dialect)
    }
    return expecting - {schema for schema, _table in live.checks}


def catalog_diffs(
    tables: Iterable[Table],
    uses: Iterable[EnumUse],
    live: LiveCatalog,
    dialect: Dialect,
    default_schema: str | None,
) -> list[tuple[Any, ...]]:
    """Diffs of the models' `tables` (those in scope), whose enum columns are `uses` (empty
    when types are not compared), against the live catalog."""
    diffs = enum_diffs(uses, live)
    for table in tables:
        diffs.extend(check_diffs(table, live, dialect, default_schema))
    return diffs
