"""The cache key of the models' snapshot: what the models declare, read without compiling.

Hashing the DDL the models produce (`models_ddl.ddl_key`) is exact but costs what compiling
every CREATE TABLE costs: seconds at 5000 tables, on every `driftwatch check`, when reading
the cached snapshot itself takes a tenth of that. So the key is made from a walk over the
MetaData instead: every table, column, constraint, index and sequence with each attribute
that reaches the DDL, rendered the same way in every process (no object addresses, no set
order). Whatever the walk cannot render for sure (a custom compilation of a DDL construct,
a DDL event listener, a constraint class it does not know, a value whose text is an object's
address) sends the whole key back to the DDL's hash, which is always right, only slower.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy
from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
    create_mock_engine,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import (
    AddConstraint,
    CreateColumn,
    CreateIndex,
    CreateSchema,
    CreateSequence,
    CreateTable,
    SetColumnComment,
    SetTableComment,
)
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.sql.schema import Sequence
from sqlalchemy.types import SchemaType, TypeEngine

from driftwatch.expected.models_ddl import MOCK_URLS, ddl_key
from driftwatch.gc_pause import paused_gc

KEY_FORMAT = "models-walk-1"  # changes when what the walk covers changes
PLAIN = (str, int, float, bool, type(None))
DDL_CONSTRUCTS = (
    CreateTable,
    CreateColumn,
    CreateIndex,
    AddConstraint,
    CreateSchema,
    CreateSequence,
    SetTableComment,
    SetColumnComment,
)
KNOWN_CONSTRAINTS = (PrimaryKeyConstraint, UniqueConstraint, ForeignKeyConstraint, CheckConstraint)


class _OpaqueError(Exception):
    """Something the walk cannot render the same in every process: use the DDL's hash."""


def models_key(metadata: MetaData, dialect_name: str) -> str:
    """A content hash of the schema the models declare for `dialect_name`; equal in every
    process for equal models, different whenever their DDL may differ."""
    with paused_gc():
        try:
            return _walk_key(metadata, dialect_name)
        except _OpaqueError:
            return ddl_key(metadata, dialect_name)


def _walk_key(metadata: MetaData, dialect_name: str) -> str:
    if any(_customised(construct) for construct in DDL_CONSTRUCTS):
        raise _OpaqueError
    _no_listeners(metadata)
    render = _Renderer(create_mock_engine(MOCK_URLS[dialect_name], _nothing).dialect)
    parts = [KEY_FORMAT, sqlalchemy.__version__, dialect_name]
    parts.append(render.value(metadata.naming_convention))
    parts.append(render.value(metadata.schema))
    for key in sorted(metadata.tables):
        parts.extend(render.table(metadata.tables[key]))
    for key in sorted(metadata._sequences):  # create_all's own list
        parts.append(render.sequence(metadata._sequences[key]))
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


def _customised(cls: type) -> bool:
    """Whether sqlalchemy.ext.compiler's @compiles changed how `cls` (or a base) compiles."""
    return any("_compiler_dispatcher" in vars(base) for base in cls.__mro__)


def _no_listeners(target: Any) -> None:
    """DDL events run DDL of their own (a trigger, a grant): only the DDL's hash sees it.
    SQLAlchemy's own listeners (an Enum's CREATE TYPE) belong to types the walk renders."""
    for event in ("before_create", "after_create"):
        for listener in getattr(target.dispatch, event):
            function = getattr(listener, "func", listener)  # SQLAlchemy's come as partials
            owner = getattr(function, "__self__", None)
            if not isinstance(owner, TypeEngine):
                raise _OpaqueError


class _Renderer:
    """Texts of the models' parts; types are memoised by their plain state (thousands of
    String(64) render once)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._types: dict[tuple[Any, ...], str] = {}

    def value(self, value: Any) -> str:  # noqa: PLR0911 - one return per kind of value
        if isinstance(value, PLAIN):
            return repr(value)
        if isinstance(value, TextClause):
            return f"text({value.text!r})"
        if isinstance(value, ClauseElement):
            # compiled for the dialect, as the DDL does: a construct of the project's own may
            # compile for one dialect only (prefect's GenerateUUID); what does not compile
            # at all is left to the DDL's hash, which says why
            try:
                return f"sql({value.compile(dialect=self.dialect)})"
            except SQLAlchemyError as exc:
                raise _OpaqueError from exc
        if isinstance(value, list | tuple):
            return "[" + ",".join(self.value(item) for item in value) + "]"
        if isinstance(value, dict):
            items = sorted(value.items(), key=lambda item: repr(item[0]))
            return "{" + ",".join(f"{k!r}:{self.value(v)}" for k, v in items) + "}"
        if isinstance(value, TypeEngine):
            return self.type(value)
        return self._repr(value)

    def _repr(self, value: Any) -> str:
        text = repr(value)
        if " at 0x" in text or " object>" in text:
            raise _OpaqueError
        return text

    def _kwargs(self, item: Any) -> str:
        # dialect options are made on first access: an item that never had any has none,
        # and touching them for each of 40,000 columns would cost a tenth of a second
        if "dialect_options" not in vars(item):
            return "{}"
        return self.value(dict(item.dialect_kwargs))

    def type(self, type_: TypeEngine[Any]) -> str:
        cls = type(type_)
        if not cls.__module__.startswith("sqlalchemy.") or _customised(cls):
            return self._compiled_type(type_)
        state = vars(type_)
        if all(isinstance(v, PLAIN) for v in state.values()):
            memo = (cls, *sorted(state.items()))
            known = self._types.get(memo)
            if known is None:
                known = self._types[memo] = self._repr(type_)
            return known
        return self._repr(type_)  # Enum, ARRAY, Variant: their repr carries their values

    def _compiled_type(self, type_: TypeEngine[Any]) -> str:
        """A type of the project's (a TypeDecorator, SQLModel's AutoString) or one it
        compiles its own way: what it compiles to on the dialect is what reaches the DDL."""
        if isinstance(type_, SchemaType):
            raise _OpaqueError  # its CREATE TYPE or CHECK comes from code the walk cannot see
        cls = type(type_)
        memo = (cls, self._repr(type_))
        known = self._types.get(memo)
        if known is None:
            compiled = self.dialect.type_compiler_instance.process(type_)
            known = self._types[memo] = f"{cls.__module__}.{cls.__qualname__}:{compiled}"
        return known

    def table(self, table: Table) -> Iterable[str]:
        _no_listeners(table)
        yield (
            f"table {table.fullname!r} comment={table.comment!r} "
            f"kw={self._kwargs(table)} prefixes={table._prefixes!r}"
        )
        for column in table.columns:
            yield self.column(column)
        constraints = []
        for constraint in table.constraints:
            if type(constraint) not in KNOWN_CONSTRAINTS:
                raise _OpaqueError  # ExcludeConstraint and the like: the DDL says it all
            constraints.append(self.constraint(constraint))
        yield from sorted(constraints)
        indexes = []
        for index in table.indexes:
            expressions = [
                f"col {e.name!r}" if isinstance(e, Column) else self.value(e)
                for e in index.expressions
            ]
            indexes.append(
                f"index {self.value(index.name)} unique={index.unique!r} "
                f"on={','.join(expressions)} kw={self._kwargs(index)}"
            )
        yield from sorted(indexes)

    def column(self, column: Column[Any]) -> str:
        default = column.server_default
        onupdate = column.server_onupdate
        sequence = column.default if isinstance(column.default, Sequence) else None
        return (
            f"column {column.name!r} type={self.type(column.type)} "
            f"nullable={column.nullable!r} pk={column.primary_key!r} "
            f"autoincrement={column.autoincrement!r} system={column.system!r} "
            f"default={self._default(default)} onupdate={self._default(onupdate)} "
            f"computed={self._computed(column)} identity={self._identity(column)} "
            f"sequence={self.sequence(sequence) if sequence is not None else None} "
            f"comment={column.comment!r} kw={self._kwargs(column)}"
        )

    def _default(self, default: Any) -> str:
        if default is None:
            return "None"
        arg = getattr(default, "arg", None)
        if arg is None or type(default).__name__ not in ("DefaultClause", "FetchedValue"):
            return self._repr_or_opaque(default)
        return f"{type(default).__name__}({self.value(arg)}, {default.for_update!r})"

    def _repr_or_opaque(self, value: Any) -> str:
        if type(value).__name__ == "FetchedValue":
            return "FetchedValue"
        raise _OpaqueError

    def _computed(self, column: Column[Any]) -> str:
        computed = column.computed
        if computed is None:
            return "None"
        return f"({self.value(computed.sqltext)}, {computed.persisted!r})"

    def _identity(self, column: Column[Any]) -> str:
        identity = column.identity
        if identity is None:
            return "None"
        return self.value(
            {
                name: getattr(identity, name, None)
                for name in ("always", "on_null", "start", "increment", "minvalue",
                             "maxvalue", "nominvalue", "nomaxvalue", "cycle", "cache",
                             "order")
            }
        )  # fmt: skip

    def sequence(self, sequence: Sequence) -> str:
        attributes = ("start", "increment", "minvalue", "maxvalue", "nominvalue", "nomaxvalue",
                      "cycle", "cache", "order", "optional", "schema")  # fmt: skip
        state = {name: getattr(sequence, name, None) for name in attributes}
        data_type = getattr(sequence, "data_type", None)
        return (
            f"sequence {sequence.name!r} {self.value(state)} "
            f"type={self.type(data_type) if data_type is not None else None}"
        )

    def constraint(self, constraint: Any) -> str:
        head = (
            f"{type(constraint).__name__} {self.value(constraint.name)} "
            f"deferrable={constraint.deferrable!r} initially={constraint.initially!r} "
            f"kw={self._kwargs(constraint)} "
            f"comment={getattr(constraint, 'comment', None)!r}"
        )
        if isinstance(constraint, CheckConstraint):
            return f"{head} sql={self.value(constraint.sqltext)}"
        columns = ",".join(repr(c.name) for c in constraint.columns)
        if isinstance(constraint, ForeignKeyConstraint):
            targets = ",".join(repr(e.target_fullname) for e in constraint.elements)
            return (
                f"{head} columns={columns} refers={targets} ondelete={constraint.ondelete!r} "
                f"onupdate={constraint.onupdate!r} match={constraint.match!r} "
                f"use_alter={constraint.use_alter!r}"
            )
        return f"{head} columns={columns}"
