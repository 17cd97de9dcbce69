"""The difference of two schema snapshots as findings. Pure: no connection, no SQLAlchemy.

`diff(expected, actual)` pairs the objects of both sides and says what differs. Both
snapshots come from a server of the same dialect, so definitions compare as the server
printed them; the only rewriting is `_EQUIVALENT_DEFAULTS` (two spellings the server keeps
as written for one default). Objects pair by name first; constraints and indexes left over
on both sides pair by definition, since a name the models leave out is the server's choice
and differs between databases built by different routes (create_all, migrations).

"Missing" means in `expected` but not in `actual`, "extra" the other way round. A table on
one side only is one finding, not one per column, index or constraint.
`DiffOptions.include` (a project's env.py filters, see `compare.filters`) is asked about
each object that differs, and may leave it out.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from driftwatch.bounds import clip, clip_optional
from driftwatch.findings import Finding, FindingKind
from driftwatch.snapshot import (
    Check,
    Column,
    EnumType,
    ForeignKey,
    Index,
    PrimaryKey,
    QualifiedName,
    Snapshot,
    Table,
    Unique,
    View,
)
from driftwatch.snapshot import (
    Sequence as SequenceObject,
)

ONLY_EXPECTED = "is expected but not in the database"
ONLY_ACTUAL = "is in the database but not expected"

# spellings PostgreSQL keeps as written for the same default value (func.now() in the
# models, text("CURRENT_TIMESTAMP") in a migration)
_EQUIVALENT_DEFAULTS = {"CURRENT_TIMESTAMP": "now()"}


# the kinds of object a project's filters are asked about (alembic's `type_` of its
# include_object and include_name hooks)
ObjectType = Literal["table", "column", "index", "unique_constraint", "foreign_key_constraint"]


class Include(Protocol):
    """Whether a difference of `want` (the expected side's object) and `have` (the actual
    side's) is reported; either is None where its side lacks the object. `tables` are the
    tables they belong to (for "table", the objects themselves). Asked only about objects
    that differ, so it may be slow; see `compare.filters`."""

    def __call__(
        self,
        type_: ObjectType,
        want: Any,
        have: Any,
        tables: tuple[Table | None, Table | None],
    ) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffOptions:
    compare_type: bool = True
    compare_server_default: bool = False
    include: Include | None = None  # None: every object is compared


T = TypeVar("T")


def diff(expected: Snapshot, actual: Snapshot, options: DiffOptions | None = None) -> list[Finding]:
    """Every difference between `expected` and `actual`, sorted by schema, table, kind, name."""
    return sorted(_Differ(actual, options or DiffOptions()).run(expected), key=_order)


def _order(finding: Finding) -> tuple[str, str, str, str]:
    return finding.sort_key


class _Differ:
    def __init__(self, actual: Snapshot, options: DiffOptions) -> None:
        self.actual = actual
        self.options = options

    def kept(
        self, type_: ObjectType, want: Any, have: Any, tables: tuple[Table | None, Table | None]
    ) -> bool:
        include = self.options.include
        return include is None or include(type_, want, have, tables)

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
        # a database's texts may be of any length (a comment of a megabyte): bounded here
        return Finding(
            kind=kind,
            schema=clip_optional(self.actual.schema_name(schema)),
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
        key: tuple[str | None, str, str | None],
        described: str,
        subject: str,
    ) -> Finding:
        schema, table, name = key
        return self.finding(
            kinds[0] if missing else kinds[1],
            schema,
            table,
            name,
            expected=described if missing else None,
            actual=None if missing else described,
            message=f"{subject} {ONLY_EXPECTED if missing else ONLY_ACTUAL}",
        )

    def mismatch(
        self,
        kind: FindingKind,
        key: tuple[str | None, str, str | None],
        subject: str,
        expected: str | None,
        actual: str | None,
    ) -> Finding:
        schema, table, name = key
        return self.finding(
            kind,
            schema,
            table,
            name,
            expected=expected,
            actual=actual,
            message=f"{subject}: expected {expected or 'none'}, database {actual or 'none'}",
        )

    # --- the whole snapshot ---------------------------------------------------------------

    def run(self, expected: Snapshot) -> Iterator[Finding]:
        actual = self.actual
        for kind, problem in ((FindingKind.MODEL_NOT_CREATED, p) for p in expected.problems):
            yield self.finding(
                kind, None, "?", None, expected=problem, actual=None, message=problem
            )
        one_sided: set[QualifiedName] = set()
        skipped: set[QualifiedName] = set()  # tables the project's filters leave out
        for want, have in _paired_by_key(expected.tables, actual.tables):
            if want != have and not self.kept("table", want, have, (want, have)):
                skipped.add(_key(want or have))
                continue
            if want is None or have is None:
                one_sided.add(_key(want or have))
            yield from self.table(want, have)
        for want_view, have_view in _paired_by_key(expected.views, actual.views):
            yield from self.view(want_view, have_view)
        for want_seq, have_seq in _paired_by_key(expected.sequences, actual.sequences):
            if _owner(want_seq or have_seq) in one_sided | skipped:
                continue  # a serial column's sequence comes and goes with its table
            yield from self.sequence(want_seq, have_seq)
        for want_enum, have_enum in _paired_by_key(expected.enums, actual.enums):
            yield from self.enum(want_enum, have_enum, expected, actual, skipped)

    # --- tables ---------------------------------------------------------------------------

    def table(self, want: Table | None, have: Table | None) -> Iterator[Finding]:
        if want is None or have is None:
            one = want or have
            assert one is not None
            yield self.presence(
                have is None,
                (FindingKind.MISSING_TABLE, FindingKind.EXTRA_TABLE),
                (one.schema, one.name, None),
                "table",
                f"table {one.name}",
            )
            return
        if want == have:
            return  # the common case, one comparison of tuples: nothing below can differ
        if want.comment != have.comment:
            yield self.mismatch(
                FindingKind.COMMENT_MISMATCH,
                (want.schema, want.name, None),
                f"table {want.name} comment",
                want.comment,
                have.comment,
            )
        tables = (want, have)
        yield from self.columns(want, have)
        yield from self.primary_key(want, have.primary_key)
        yield from self.constraints(tables, want.uniques, have.uniques, _UNIQUES)
        yield from self.constraints(tables, want.foreign_keys, have.foreign_keys, _FOREIGN_KEYS)
        yield from self.constraints(tables, want.checks, have.checks, _CHECKS)
        yield from self.constraints(tables, want.indexes, have.indexes, _INDEXES)

    def columns(self, want: Table, have: Table) -> Iterator[Finding]:
        live = {c.name: c for c in have.columns}
        tables = (want, have)
        for column in want.columns:
            other = live.pop(column.name, None)
            if other is None:
                if self.kept("column", column, None, tables):
                    yield self.column_presence(want, column, missing=True)
            elif other != column and self.kept("column", column, other, tables):
                yield from self.column_change(want, column, other)
        for column in live.values():
            if self.kept("column", None, column, tables):
                yield self.column_presence(want, column, missing=False)

    def column_presence(self, table: Table, column: Column, *, missing: bool) -> Finding:
        return self.presence(
            missing,
            (FindingKind.MISSING_COLUMN, FindingKind.EXTRA_COLUMN),
            (table.schema, table.name, column.name),
            describe_column(column),
            f"column {table.name}.{column.name}",
        )

    def column_change(self, table: Table, want: Column, have: Column) -> Iterator[Finding]:
        key = (table.schema, table.name, want.name)
        where = f"column {table.name}.{want.name}"
        if self.options.compare_type and want.type != have.type:
            labels = _mysql_enum_labels(want.type), _mysql_enum_labels(have.type)
            if labels[0] is not None and labels[1] is not None:
                yield from self.enum_labels(key, where, "ENUM", labels[0], labels[1])
            else:
                yield self.mismatch(
                    FindingKind.TYPE_MISMATCH, key, f"{where} type", want.type, have.type
                )
        if want.nullable != have.nullable:
            yield self.mismatch(
                FindingKind.NULLABLE_MISMATCH,
                key,
                f"{where} nullability",
                _nullability(want),
                _nullability(have),
            )
        if self.options.compare_server_default and _default(want) != _default(have):
            yield self.mismatch(
                FindingKind.DEFAULT_MISMATCH, key, f"{where} default", want.default, have.default
            )
        if want.identity != have.identity:
            yield self.mismatch(
                FindingKind.IDENTITY_MISMATCH,
                key,
                f"{where} identity",
                want.identity,
                have.identity,
            )
        if (want.generated, want.generated_kind) != (have.generated, have.generated_kind):
            yield self.mismatch(
                FindingKind.GENERATED_MISMATCH,
                key,
                f"{where} generation",
                _generation(want),
                _generation(have),
            )
        if want.collation != have.collation:
            yield self.mismatch(
                FindingKind.COLLATION_MISMATCH,
                key,
                f"{where} collation",
                want.collation,
                have.collation,
            )
        if want.comment != have.comment:
            yield self.mismatch(
                FindingKind.COMMENT_MISMATCH, key, f"{where} comment", want.comment, have.comment
            )

    def primary_key(self, table: Table, have: PrimaryKey | None) -> Iterator[Finding]:
        want = table.primary_key
        want_columns = want.columns if want else ()
        have_columns = have.columns if have else ()
        if want_columns != have_columns:  # its name is the server's choice, not compared
            named = want or have
            yield self.mismatch(
                FindingKind.PRIMARY_KEY_MISMATCH,
                (table.schema, table.name, named.name if named else None),
                f"table {table.name} primary key",
                _describe_primary_key(want),
                _describe_primary_key(have),
            )

    def constraints(
        self,
        tables: tuple[Table, Table],
        want: Sequence[T],
        have: Sequence[T],
        spec: _Spec[T],
    ) -> Iterator[Finding]:
        table = tables[0]
        for one, other in _paired(want, have, _name, spec.signature):
            if (
                one is not None
                and other is not None
                and spec.signature(one) == spec.signature(other)
            ):
                continue  # the same object (a name the server chose may differ)
            if spec.filtered_as is not None and not self.kept(spec.filtered_as, one, other, tables):
                continue
            if one is not None and other is not None:
                yield self.mismatch(
                    spec.kinds[2],
                    (table.schema, table.name, _name(one)),
                    f"{spec.label} {_name(one)} on {table.name}",
                    spec.describe(one, self.actual),
                    spec.describe(other, self.actual),
                )
                continue
            item = one if one is not None else other
            assert item is not None
            name, described = _name(item), spec.describe(item, self.actual)
            yield self.presence(
                other is None,
                (spec.kinds[0], spec.kinds[1]),
                (table.schema, table.name, name),
                described,
                f"{spec.label} {name or described} on {table.name}",
            )

    # --- objects of a schema ---------------------------------------------------------------

    def view(self, want: View | None, have: View | None) -> Iterator[Finding]:
        one = want or have
        assert one is not None
        key = (one.schema, one.name, None)
        if want is None or have is None:
            yield self.presence(
                have is None,
                (FindingKind.MISSING_VIEW, FindingKind.EXTRA_VIEW),
                key,
                _describe_view(one),
                f"view {one.name}",
            )
            return
        if (want.definition, want.materialized) != (have.definition, have.materialized):
            yield self.mismatch(
                FindingKind.VIEW_MISMATCH,
                key,
                f"view {one.name} definition",
                _describe_view(want),
                _describe_view(have),
            )
        if want.comment != have.comment:
            yield self.mismatch(
                FindingKind.COMMENT_MISMATCH, key, f"view {one.name} comment", want.comment,
                have.comment,
            )  # fmt: skip

    def sequence(
        self, want: SequenceObject | None, have: SequenceObject | None
    ) -> Iterator[Finding]:
        one = want or have
        assert one is not None
        key = (one.schema, one.name, None)
        if want is None or have is None:
            yield self.presence(
                have is None,
                (FindingKind.MISSING_SEQUENCE, FindingKind.EXTRA_SEQUENCE),
                key,
                _describe_sequence(one),
                f"sequence {one.name}",
            )
        elif (want.definition, want.owned_by) != (have.definition, have.owned_by):
            yield self.mismatch(
                FindingKind.SEQUENCE_MISMATCH,
                key,
                f"sequence {one.name}",
                _describe_sequence(want),
                _describe_sequence(have),
            )

    def enum(
        self,
        want: EnumType | None,
        have: EnumType | None,
        expected: Snapshot,
        actual: Snapshot,
        skipped: set[QualifiedName],
    ) -> Iterator[Finding]:
        one = want or have
        assert one is not None
        if want is None or have is None:
            yield self.presence(
                have is None,
                (FindingKind.MISSING_ENUM, FindingKind.EXTRA_ENUM),
                (one.schema, one.name, None),
                describe_enum(one.name, one.labels),
                f"enum type {one.name}",
            )
            return
        if want.labels == have.labels or not self.options.compare_type:
            return
        # said on each column of the type, as the table is what on-call looks at
        uses = list(_columns_of_type(expected, actual, want))
        places = [place for place in uses if place[0][:2] not in skipped]
        if not uses:
            places = [((want.schema, want.name, None), f"enum type {want.name}")]
        for key, where in places:
            yield from self.enum_labels(key, where, want.name, want.labels, have.labels)

    def enum_labels(
        self,
        key: tuple[str | None, str, str | None],
        where: str,
        type_name: str,
        want: tuple[str, ...],
        have: tuple[str, ...],
    ) -> Iterator[Finding]:
        expected, actual = describe_enum(type_name, want), describe_enum(type_name, have)
        lacking = [label for label in want if label not in have]
        surplus = [label for label in have if label not in want]
        if lacking:
            yield self.finding(
                FindingKind.MISSING_ENUM_VALUE, *key, expected=expected, actual=actual,
                message=f"{where} lacks {_listed(lacking)}",
            )  # fmt: skip
        if surplus:
            yield self.finding(
                FindingKind.EXTRA_ENUM_VALUE, *key, expected=expected, actual=actual,
                message=f"{where} has {_listed(surplus)} not expected",
            )  # fmt: skip
        if not lacking and not surplus:
            yield self.finding(
                FindingKind.ENUM_ORDER_MISMATCH, *key, expected=expected, actual=actual,
                message=f"{where}: labels in another order",
            )  # fmt: skip


# --- pairing ------------------------------------------------------------------------------


def _paired_by_key(want: Iterable[T], have: Iterable[T]) -> Iterator[tuple[T | None, T | None]]:
    """Objects of a snapshot paired by (schema, name); None where one side has none."""
    live: dict[QualifiedName, T] = {_key(obj): obj for obj in have}
    for obj in want:
        yield obj, live.pop(_key(obj), None)
    for obj in live.values():
        yield None, obj


def _key(obj: object) -> QualifiedName:
    key: QualifiedName = obj.key  # type: ignore[attr-defined]
    return key


def _paired(
    want: Sequence[T],
    have: Sequence[T],
    name: Callable[[T], str | None],
    signature: Callable[[T], Hashable],
) -> Iterator[tuple[T | None, T | None]]:
    """Pairs by name, then what is left over on both sides by signature (server-chosen
    names differ between databases); None where one side has nothing to pair with."""
    by_name = {n: obj for obj in have if (n := name(obj)) is not None}
    left_want: list[T] = []
    paired_have: set[int] = set()
    for obj in want:
        n = name(obj)
        other = by_name.get(n) if n is not None else None
        if other is None:
            left_want.append(obj)
        else:
            paired_have.add(id(other))
            yield obj, other
    left_have: dict[Hashable, list[T]] = {}
    for obj in have:
        if id(obj) not in paired_have:
            left_have.setdefault(signature(obj), []).append(obj)
    for obj in left_want:
        same = left_have.get(signature(obj))
        yield obj, (same.pop(0) if same else None)
    for rest in left_have.values():
        for obj in rest:
            yield None, obj


def _owner(sequence: SequenceObject | None) -> QualifiedName | None:
    """The table whose serial column owns `sequence` (it lives in the table's schema)."""
    if sequence is None or sequence.owned_by is None:
        return None
    return (sequence.schema, sequence.owned_by.rpartition(".")[0])


def _name(obj: object) -> str | None:
    name: str | None = obj.name  # type: ignore[attr-defined]
    return name


def _unique_signature(unique: Unique) -> Hashable:
    return (unique.columns, unique.definition)


def _foreign_key_signature(fk: ForeignKey) -> Hashable:
    return (
        fk.columns,
        fk.referred_schema,
        fk.referred_table,
        fk.referred_columns,
        fk.on_update,
        fk.on_delete,
        fk.deferrable,
    )


def _check_signature(check: Check) -> Hashable:
    return check.expression


def _index_signature(index: Index) -> Hashable:
    return (index.unique, index.definition)


# --- descriptions -------------------------------------------------------------------------


def describe_column(column: Column) -> str:
    parts = [column.type, _nullability(column)]
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.identity is not None:
        parts.append(f"IDENTITY {column.identity}")
    if column.generated is not None:
        parts.append(_generation(column) or "")
    if column.collation is not None:
        parts.append(f"COLLATE {column.collation}")
    return " ".join(parts)


def describe_enum(name: str, labels: Iterable[str]) -> str:
    return f"ENUM {name} ({', '.join(repr(label) for label in labels)})"


def _nullability(column: Column) -> str:
    return "NULL" if column.nullable else "NOT NULL"


def _default(column: Column) -> str | None:
    default = column.default
    return _EQUIVALENT_DEFAULTS.get(default, default) if default is not None else None


def _generation(column: Column) -> str | None:
    if column.generated is None:
        return None
    return f"GENERATED ALWAYS AS ({column.generated}) {(column.generated_kind or '').upper()}"


def _describe_primary_key(pk: PrimaryKey | None) -> str | None:
    return f"PRIMARY KEY ({', '.join(pk.columns)})" if pk is not None else None


def _describe_unique(unique: Unique, _snapshot: Snapshot) -> str:
    return unique.definition


def _describe_check(check: Check, _snapshot: Snapshot) -> str:
    return check.expression


def _describe_foreign_key(fk: ForeignKey, snapshot: Snapshot) -> str:
    referred = fk.referred_table
    if fk.referred_schema is not None:
        referred = f"{snapshot.schema_name(fk.referred_schema)}.{referred}"
    text = (
        f"FOREIGN KEY ({', '.join(fk.columns)}) REFERENCES {referred} "
        f"({', '.join(fk.referred_columns)})"
    )
    for clause, value in (("ON UPDATE", fk.on_update), ("ON DELETE", fk.on_delete)):
        if value:
            text += f" {clause} {value}"
    if fk.deferrable:
        text += f" {fk.deferrable}"
    return text


def _describe_index(index: Index, _snapshot: Snapshot) -> str:
    # PostgreSQL and MySQL name the method first; SQLite's definition is the keys alone
    using = "" if index.definition.startswith("(") else "USING "
    return f"{'UNIQUE ' if index.unique else ''}INDEX {using}{index.definition}"


def _describe_view(view: View) -> str:
    kind = "MATERIALIZED VIEW" if view.materialized else "VIEW"
    return f"{kind} AS {view.definition}"


def _describe_sequence(sequence: SequenceObject) -> str:
    owned = f" OWNED BY {sequence.owned_by}" if sequence.owned_by else ""
    return f"SEQUENCE {sequence.definition}{owned}"


@dataclass(frozen=True, slots=True)
class _Spec(Generic[T]):
    """How one kind of table-level constraint or index is paired, compared and shown."""

    label: str
    kinds: tuple[FindingKind, FindingKind, FindingKind]  # missing, extra, mismatch
    signature: Callable[[T], Hashable]  # what two of them must share to be the same
    describe: Callable[[T, Snapshot], str]
    filtered_as: ObjectType | None  # what a project's filters are asked (None: not asked)


_UNIQUES = _Spec(
    "unique constraint",
    (FindingKind.MISSING_UNIQUE, FindingKind.EXTRA_UNIQUE, FindingKind.UNIQUE_MISMATCH),
    _unique_signature,
    _describe_unique,
    "unique_constraint",
)
_FOREIGN_KEYS = _Spec(
    "foreign key",
    (
        FindingKind.MISSING_FOREIGN_KEY,
        FindingKind.EXTRA_FOREIGN_KEY,
        FindingKind.FOREIGN_KEY_MISMATCH,
    ),
    _foreign_key_signature,
    _describe_foreign_key,
    "foreign_key_constraint",
)
_CHECKS = _Spec(
    "check constraint",
    (FindingKind.MISSING_CHECK, FindingKind.EXTRA_CHECK, FindingKind.CHECK_MISMATCH),
    _check_signature,
    _describe_check,
    None,  # alembic compares no CHECK constraint, so its filters are never asked about one
)
_INDEXES = _Spec(
    "index",
    (FindingKind.MISSING_INDEX, FindingKind.EXTRA_INDEX, FindingKind.INDEX_MISMATCH),
    _index_signature,
    _describe_index,
    "index",
)


def _listed(labels: Iterable[str]) -> str:
    return ", ".join(repr(label) for label in labels)


def _columns_of_type(
    expected: Snapshot, actual: Snapshot, enum: EnumType
) -> Iterator[tuple[tuple[str | None, str, str | None], str]]:
    """Columns typed with `enum` in `expected` that `actual` has too (others are reported as
    missing columns or tables already)."""
    names = {enum.name, f"{expected.schema_name(enum.schema)}.{enum.name}"}
    names |= {f"{n}[]" for n in names}
    live = {t.key: {c.name for c in t.columns} for t in actual.tables}
    for table in expected.tables:
        for column in table.columns:
            if column.type in names and column.name in live.get(table.key, ()):
                yield (table.schema, table.name, column.name), f"column {table.name}.{column.name}"


def _mysql_enum_labels(type_text: str) -> tuple[str, ...] | None:
    """The labels of a MySQL column type `enum('a','b')`; None for any other type."""
    if not type_text.lower().startswith("enum(") or not type_text.endswith(")"):
        return None
    body, labels, current, quoted, i = type_text[5:-1], [], [], False, 0
    while i < len(body):
        char = body[i]
        if quoted:
            if char == "'" and body[i + 1 : i + 2] == "'":
                current.append("'")
                i += 1
            elif char == "'":
                quoted = False
                labels.append("".join(current))
                current = []
            else:
                current.append(char)
        elif char == "'":
            quoted = True
        i += 1
    return tuple(labels)
