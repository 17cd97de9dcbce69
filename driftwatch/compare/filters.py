"""A project's env.py filters (`include_name`, `include_object`) as the snapshot diff's
`Include`. Pure: the filters arrive as plain functions (imported and guarded by
`expected.sources.load_filters`); nothing here imports or connects.

alembic asks its hooks about SQLAlchemy objects; a snapshot holds plain data. So for each
object the diff finds different (only those: a check of 5000 equal tables asks nothing),
the objects alembic would have passed are made here: the models' own Table, Column, Index
or constraint where the models define it (its `info` and all), else a light one built from
the snapshot in a throwaway MetaData. The calls follow alembic's autogenerate:

- `include_name(name, type_, parent_names)` for the schema (None: the default one), the
  table, and the column, index, unique or foreign key constraint, with alembic's
  `parent_names` (`schema_name`, `table_name`, `schema_qualified_table_name`). alembic asks
  it about the database's names only, before reflection; every side of a snapshot diff was
  read from a database (the expected one from a scratch database), so both sides' names
  are asked, and an object either name is refused for is not compared.
- `include_object(object, name, type_, reflected, compare_to)`: an object only expected
  (missing) is passed with reflected False and compare_to None; one only in the database
  (extra) with reflected True and compare_to None; one on both sides that differs as the
  expected object with reflected False and compare_to the database's object.

Objects alembic compares without asking (CHECK constraints, primary keys) and those it does
not compare (views, sequences, enum types) are not filtered themselves, only through the
table they belong to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import UserDefinedType

from driftwatch.compare.diff import Include, ObjectType
from driftwatch.snapshot import Column, ForeignKey, Index, Table, Unique

NameFilter = Callable[[str | None, str, dict[str, str | None]], bool]
ObjectFilter = Callable[[Any, str | None, str, bool, Any], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectFilters:
    """A project's env.py filters, None where it names none."""

    include_name: NameFilter | None = None
    include_object: ObjectFilter | None = None


def env_include(
    filters: ProjectFilters, *, models: sa.MetaData | None, default_schema: str | None
) -> Include | None:
    """The diff's `Include` asking `filters`; None when there are none. `models` are the
    models' tables (their objects are passed where they define one), `default_schema` the
    name the snapshots' schema None stands for (the models may spell it out)."""
    if filters.include_name is None and filters.include_object is None:
        return None
    return _EnvInclude(filters, models, default_schema)


class _ServerType(UserDefinedType[Any]):
    """A column type as the server printed it: what a built column's `type` compiles to."""

    cache_ok = True

    def __init__(self, text: str) -> None:
        self.text = text

    def get_col_spec(self, **_kw: Any) -> str:
        return self.text


class _EnvInclude:
    def __init__(
        self, filters: ProjectFilters, models: sa.MetaData | None, default_schema: str | None
    ) -> None:
        self.include_name = filters.include_name
        self.include_object = filters.include_object
        self.models = models
        self.default_schema = default_schema
        self.schemas: dict[str | None, bool] = {}
        # light tables by the snapshot table they were built from: the several diffs of an
        # attribution hold different tables of one name
        self.built: dict[Table, sa.Table] = {}

    def __call__(
        self,
        type_: ObjectType,
        want: Any,
        have: Any,
        tables: tuple[Table | None, Table | None],
    ) -> bool:
        table = tables[0] or tables[1]
        assert table is not None
        return self.names_kept(type_, want, have, table) and self.objects_kept(
            type_, want, have, tables
        )

    # --- include_name ----------------------------------------------------------------------

    def names_kept(self, type_: ObjectType, want: Any, have: Any, table: Table) -> bool:
        include_name = self.include_name
        if include_name is None:
            return True
        schema = table.schema
        if schema not in self.schemas:
            self.schemas[schema] = bool(include_name(schema, "schema", {}))
        if not self.schemas[schema]:
            return False
        qualified = f"{schema}.{table.name}" if schema else table.name
        parents: dict[str, str | None] = {"schema_name": schema}
        if type_ != "table":
            parents["table_name"] = table.name
        parents["schema_qualified_table_name"] = qualified
        names = dict.fromkeys(obj.name for obj in (have, want) if obj is not None)
        return all(include_name(name, type_, dict(parents)) for name in names)

    # --- include_object --------------------------------------------------------------------

    def objects_kept(
        self,
        type_: ObjectType,
        want: Any,
        have: Any,
        tables: tuple[Table | None, Table | None],
    ) -> bool:
        include_object = self.include_object
        if include_object is None:
            return True
        expected = None if want is None else self.sqlalchemy_object(type_, want, tables[0])
        actual = None if have is None else self.built_object(type_, have, tables[1])
        if expected is not None:
            return bool(include_object(expected, want.name, type_, False, actual))
        return bool(include_object(actual, have.name, type_, True, None))

    def sqlalchemy_object(self, type_: ObjectType, obj: Any, table: Table | None) -> Any:
        """The object alembic would pass for the expected side's `obj`: the models' own
        where they define it, else one built from the snapshot."""
        assert table is not None
        model = self.model_table(table)
        found = None if model is None else _part(model, type_, obj)
        return found if found is not None else self.built_object(type_, obj, table)

    def built_object(self, type_: ObjectType, obj: Any, table: Table | None) -> Any:
        """`obj` of the snapshot `table` as a SQLAlchemy object, as reflection gives it."""
        assert table is not None
        if table not in self.built:
            self.built[table] = _light_table(table)
        built = self.built[table]
        found = _part(built, type_, obj)
        return found if found is not None else built

    def model_table(self, table: Table) -> sa.Table | None:
        if self.models is None:
            return None
        tables = self.models.tables
        if table.schema is not None:
            return tables.get(f"{table.schema}.{table.name}")
        found = tables.get(table.name)
        if found is None and self.default_schema is not None:
            found = tables.get(f"{self.default_schema}.{table.name}")
        return found


def _part(table: sa.Table, type_: ObjectType, obj: Any) -> Any:
    """`table` itself, or its column, index or constraint of `type_` that is the snapshot's
    `obj`: by name, else (a constraint the models or the server left unnamed) by columns."""
    if type_ == "table":
        return table
    if type_ == "column":
        return next((c for c in table.columns if c.name == obj.name), None)
    if type_ == "index":
        return next((i for i in table.indexes if i.name == obj.name), None)
    kind = sa.UniqueConstraint if type_ == "unique_constraint" else sa.ForeignKeyConstraint
    candidates = [c for c in table.constraints if isinstance(c, kind)]
    named = next((c for c in candidates if obj.name is not None and c.name == obj.name), None)
    if named is not None:
        return named
    columns = tuple(obj.columns)
    return next((c for c in candidates if tuple(x.name for x in c.columns) == columns), None)


def _light_table(table: Table) -> sa.Table:
    """A SQLAlchemy Table holding what the snapshot says of `table`, as reflection would, in
    a MetaData of its own."""
    parts: list[Any] = [_column(c) for c in table.columns]
    names = {c.name for c in table.columns}
    if table.primary_key is not None and set(table.primary_key.columns) <= names:
        parts.append(
            sa.PrimaryKeyConstraint(*table.primary_key.columns, name=table.primary_key.name)
        )
    parts += [_unique(u) for u in table.uniques if set(u.columns) <= names]
    parts += [_foreign_key(fk) for fk in table.foreign_keys if set(fk.columns) <= names]
    parts += [_index(i) for i in table.indexes]
    return sa.Table(table.name, sa.MetaData(), *parts, schema=table.schema, comment=table.comment)


def _column(column: Column) -> sa.Column[Any]:
    default = sa.text(column.default) if column.default is not None else None
    return sa.Column(
        column.name,
        _ServerType(column.type),
        nullable=column.nullable,
        server_default=default,
        comment=column.comment,
    )


def _unique(unique: Unique) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*unique.columns, name=unique.name)


def _foreign_key(fk: ForeignKey) -> sa.ForeignKeyConstraint:
    prefix = (
        f"{fk.referred_schema}.{fk.referred_table}" if fk.referred_schema else fk.referred_table
    )
    return sa.ForeignKeyConstraint(
        list(fk.columns),
        [f"{prefix}.{column}" for column in fk.referred_columns],
        name=fk.name,
        onupdate=fk.on_update,
        ondelete=fk.on_delete,
    )


def _index(index: Index) -> sa.Index:
    # the snapshot keeps an index's keys as the server prints them, not as columns
    return sa.Index(index.name, sa.text(index.definition), unique=index.unique)
