"""Schema snapshots: one database's schema as its server reports it, as plain frozen data.

A snapshot is what `live/` reads from a monitored database and what `expected/` reads from a
scratch database after `create_all` or a replay; `compare/` diffs two of them. Everything is
text as the server prints it (types, defaults, index and constraint definitions), so two
snapshots of the same dialect compare by equality. The default schema of the database the
snapshot was read from is stored as `None` everywhere (tables, foreign-key targets, types),
so a snapshot of database `app` and one of a scratch database of another name line up; its
name is kept in `default_schema` for display.

`to_json` / `from_json` make a snapshot a file (`driftwatch snapshot`, the on-disk cache);
`SNAPSHOT_FORMAT` changes when the meaning of a field changes, and a file of another
version is refused rather than misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace
from fnmatch import translate
from functools import cache
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from driftwatch.errors import DriftwatchError

SNAPSHOT_FORMAT = 1

QualifiedName = tuple[str | None, str]  # (schema, name); schema None is the default schema


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    name: str
    type: str  # as the server formats it: "character varying(50)", "varchar(50)", "INTEGER"
    nullable: bool
    default: str | None = None  # the default expression as the server deparses it
    identity: str | None = None  # "always" / "by default" (PostgreSQL), "auto_increment"
    generated: str | None = None  # the generation expression of a generated column
    generated_kind: str | None = None  # "stored" or "virtual"
    collation: str | None = None  # only when it is not the type's (or table's) default
    comment: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrimaryKey:
    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unique:
    name: str | None
    columns: tuple[str, ...]
    definition: str  # the constraint as the server prints it (NULLS NOT DISTINCT, DEFERRABLE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForeignKey:
    name: str | None
    columns: tuple[str, ...]
    referred_schema: str | None
    referred_table: str
    referred_columns: tuple[str, ...]
    on_update: str | None = None  # None: the dialect's default (NO ACTION / RESTRICT)
    on_delete: str | None = None
    deferrable: str | None = None  # None, "DEFERRABLE", "DEFERRABLE INITIALLY DEFERRED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    name: str | None
    expression: str  # as the server prints it


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    name: str
    unique: bool
    definition: str  # method, keys with their options, INCLUDE and WHERE, as the server prints


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    schema: str | None
    name: str
    columns: tuple[Column, ...]
    primary_key: PrimaryKey | None = None
    uniques: tuple[Unique, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    checks: tuple[Check, ...] = ()
    indexes: tuple[Index, ...] = ()
    comment: str | None = None

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    schema: str | None
    name: str
    definition: str  # the query as the server deparses it
    materialized: bool = False
    comment: str | None = None

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumType:
    schema: str | None
    name: str
    labels: tuple[str, ...]  # in their sort order

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sequence:
    schema: str | None
    name: str
    definition: str  # type, start, increment, bounds, cache, cycle as one comparable text
    owned_by: str | None = None  # "table.column" of a serial column

    @property
    def key(self) -> QualifiedName:
        return (self.schema, self.name)

    @property
    def scoped_as(self) -> str:
        """The name scope patterns see: a serial column's sequence goes with its table."""
        return self.owned_by.rpartition(".")[0] if self.owned_by else self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What a snapshot covers: schemas (None: the default one) and table name patterns."""

    schemas: tuple[str | None, ...] = (None,)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def watches(self, schema: str | None, name: str) -> bool:
        """Whether the relation `name` of `schema` (None: the default one) is in scope."""
        if schema not in self.schemas:
            return False
        include = _matcher(self.include)
        exclude = _matcher(self.exclude)
        if include is None and exclude is None:
            return True
        candidates = (name, f"{schema}.{name}") if schema is not None else (name,)
        if include is not None and not any(include(c) for c in candidates):
            return False
        return exclude is None or not any(exclude(c) for c in candidates)

    def in_database(self, default_schema: str | None) -> Scope:
        """This scope with the default schema spelled None, even where it was named.

        A scope that names the default schema (`public`, the MySQL database of the URL)
        watches the same tables as one that says None; a snapshot records the None form, so
        that snapshots of databases of different names compare equal.
        """
        schemas = tuple(None if s == default_schema else s for s in self.schemas)
        return Scope(
            schemas=tuple(dict.fromkeys(schemas)), include=self.include, exclude=self.exclude
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    dialect: str  # "postgresql", "mysql", "sqlite"
    server_version: str  # "15.19", "10.11.19-MariaDB", "3.40.1"
    default_schema: str | None  # the name `None` stands for in this database
    scope: Scope
    tables: tuple[Table, ...] = ()
    views: tuple[View, ...] = ()
    enums: tuple[EnumType, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    problems: tuple[str, ...] = ()  # statements a scratch database refused (models side)
    format: int = SNAPSHOT_FORMAT

    @property
    def server_major(self) -> int | None:
        head = self.server_version.split(".", 1)[0]
        return int(head) if head.isdigit() else None

    def schema_name(self, schema: str | None) -> str | None:
        """The name of `schema` in the database this snapshot was read from."""
        return self.default_schema if schema is None else schema

    def within(self, scope: Scope) -> Snapshot:
        """This snapshot cut down to `scope` (a models' snapshot holds every table)."""
        watches = scope.watches
        return replace(
            self,
            scope=scope,
            tables=tuple(t for t in self.tables if watches(t.schema, t.name)),
            views=tuple(v for v in self.views if watches(v.schema, v.name)),
            sequences=tuple(s for s in self.sequences if watches(s.schema, s.scoped_as)),
            enums=tuple(e for e in self.enums if e.schema in scope.schemas),
        )


@cache
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], object] | None:
    """One compiled test for any of the fnmatch `patterns` (case-sensitive, as fnmatchcase);
    None for no patterns. A reader asks once per relation: 30,000 times at 5000 tables."""
    if not patterns:
        return None
    return re.compile("|".join(translate(p) for p in patterns)).match


# --- JSON ---------------------------------------------------------------------------------


class SnapshotFormatError(DriftwatchError):
    """A snapshot file that is not one driftwatch can read."""


def to_json(snapshot: Snapshot) -> dict[str, Any]:
    """A JSON-ready dict; `from_json` turns it back into an equal snapshot."""
    encoded: dict[str, Any] = _encode(snapshot)
    return encoded


def _encode(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _encode(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, tuple):
        return [_encode(item) for item in obj]
    return obj


def from_json(data: object, *, origin: str) -> Snapshot:
    """Rebuild a snapshot from `to_json`'s output; a one-line error for anything else."""
    if not isinstance(data, dict):
        raise SnapshotFormatError(f"{origin}: not a driftwatch snapshot (expected an object)")
    found = data.get("format")
    if found != SNAPSHOT_FORMAT:
        raise SnapshotFormatError(
            f"{origin}: snapshot format {found!r} is not the one this driftwatch reads "
            f"({SNAPSHOT_FORMAT}); write it again with this version"
        )
    try:
        snapshot: Snapshot = _decode(Snapshot, data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise SnapshotFormatError(f"{origin}: not a valid snapshot: {exc}") from None
    return snapshot


def _decode(cls: type, data: object) -> Any:
    return _decoder(cls)(data)


Decoder = Callable[[Any], Any]


@cache
def _decoder(cls: type) -> Decoder:
    """A function that rebuilds a `cls` from its JSON object, made once per class: the type
    hints are read here, not for each of a 5000-table snapshot's 70,000 objects (reading a
    cached snapshot is on the path of every `driftwatch check`)."""
    hints = _hints(cls)
    names = frozenset(hints)
    converters = [(name, convert) for name, hint in hints.items() if (convert := _converter(hint))]
    label = cls.__name__

    def decode(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeError(f"{label} must be an object")
        if not names.issuperset(data):
            raise TypeError(f"{label} has no field {sorted(set(data) - names)[0]!r}")
        if converters:
            data = dict(data)
            for name, convert in converters:
                value = data.get(name)
                if value is not None:
                    data[name] = convert(value)
        return cls(**data)

    return decode


def _converter(hint: Any) -> Decoder | None:
    """How a field of type `hint` is decoded: a dataclass, a tuple of them or of plain
    values; None for a plain value, taken as it is."""
    inner = [arg for arg in get_args(hint) if arg is not type(None)]
    if get_origin(hint) is tuple:
        item = _converter(inner[0])

        def to_tuple(value: Any) -> tuple[Any, ...]:
            if not isinstance(value, list):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            if item is None:
                return tuple(value)
            return tuple([None if v is None else item(v) for v in value])

        return to_tuple
    if get_origin(hint) in (UnionType, Union) and len(inner) == 1:
        return _converter(inner[0])
    if isinstance(hint, type) and is_dataclass(hint):
        return _decoder(hint)
    return None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)
