"""A project's env.py filters in the snapshot diff, on snapshots built by hand: what alembic's
`include_name` and `include_object` are asked, with which objects, and what they leave out."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from driftwatch.compare.attribute import attribute
from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.compare.filters import ProjectFilters, env_include
from driftwatch.findings import Attribution
from driftwatch.snapshot import (
    Column,
    ForeignKey,
    Index,
    PrimaryKey,
    Scope,
    Sequence,
    Snapshot,
    Table,
    Unique,
)

ID = Column(name="id", type="integer", nullable=False)
NAME = Column(name="name", type="character varying(50)", nullable=True)


def snapshot(*tables: Table, **objects: Any) -> Snapshot:
    return Snapshot(
        dialect="postgresql",
        server_version="15.4",
        default_schema="public",
        scope=Scope(schemas=(None, "legacy")),
        tables=tables,
        **objects,
    )


def table(name: str, schema: str | None = None, **parts: Any) -> Table:
    fields: dict[str, Any] = {
        "columns": (ID, NAME),
        "primary_key": PrimaryKey(name=f"{name}_pkey", columns=("id",)),
    }
    fields.update(parts)
    return Table(schema=schema, name=name, **fields)


def options(
    include_name: Any = None, include_object: Any = None, models: sa.MetaData | None = None
) -> DiffOptions:
    filters = ProjectFilters(include_name=include_name, include_object=include_object)
    return DiffOptions(include=env_include(filters, models=models, default_schema="public"))


def found(expected: Snapshot, actual: Snapshot, opts: DiffOptions) -> list[tuple[str, str, Any]]:
    return [(f.kind.value, f.table, f.name) for f in diff(expected, actual, opts)]


def skip_legacy(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    return not (type_ == "table" and str(name).startswith("legacy_"))


def test_include_object_leaves_out_an_extra_table_and_its_serial_sequence() -> None:
    """A `legacy_*` table only in the database is not reported, nor is the sequence its serial
    column owns; without the filter both the table is (the test can fail)."""
    users = table("users")
    legacy = table("legacy_orders")
    sequence = Sequence(
        schema=None, name="legacy_orders_id_seq", definition="integer", owned_by="legacy_orders.id"
    )
    expected = snapshot(users)
    actual = snapshot(users, legacy, sequences=(sequence,))

    assert found(expected, actual, DiffOptions()) == [("extra_table", "legacy_orders", None)]
    assert found(expected, actual, options(include_object=skip_legacy)) == []


def test_include_object_is_asked_as_alembic_asks_it() -> None:
    """Missing: the expected object, reflected False, compare_to None; extra: the database's,
    reflected True, compare_to None; on both sides: expected object, False, the database's.
    Objects are SQLAlchemy's, with their table; equal objects are not asked about at all."""
    calls: list[tuple[str, str | None, bool, str, str | None]] = []

    def record(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        calls.append((type_, name, reflected, type(obj).__name__, type(other).__name__))
        if type_ == "column":
            assert isinstance(obj.table, sa.Table) and obj.table.name == "users"
        return True

    wide = Column(name="name", type="text", nullable=True)
    expected = snapshot(table("users", columns=(ID, NAME)), table("gone"), table("same"))
    actual = snapshot(
        table("users", columns=(ID, wide, Column(name="x", type="integer", nullable=True))),
        table("same"),
        table("new"),
    )

    diff(expected, actual, options(include_object=record))

    assert sorted(calls) == sorted(
        [
            ("table", "users", False, "Table", "Table"),
            ("column", "name", False, "Column", "Column"),
            ("column", "x", True, "Column", "NoneType"),
            ("table", "gone", False, "Table", "NoneType"),
            ("table", "new", True, "Table", "NoneType"),
        ]
    )


def test_the_models_own_objects_are_passed_where_they_define_them() -> None:
    """A table the models define reaches include_object as the models' Table (its `info`
    decides, alembic's usual `skip_autogenerate` pattern); the database's side is built."""
    models = sa.MetaData()
    sa.Table("audit", models, sa.Column("id", sa.Integer), info={"skip_autogenerate": True})
    seen: list[object] = []

    def by_info(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        seen.append(obj)
        return not obj.info.get("skip_autogenerate", False)

    expected = snapshot(table("audit"), table("users"))
    actual = snapshot(table("users", columns=(ID,)))

    assert found(expected, actual, options(include_object=by_info, models=models)) == [
        ("missing_column", "users", "name")
    ]
    assert models.tables["audit"] in seen


def test_indexes_uniques_and_foreign_keys_are_asked_by_their_alembic_type() -> None:
    """Each constraint difference is asked with alembic's type_, and a refusal drops it."""
    fk = ForeignKey(
        name="fk_users_org",
        columns=("id",),
        referred_schema=None,
        referred_table="orgs",
        referred_columns=("id",),
    )
    expected = snapshot(table("users"))
    actual = snapshot(
        table(
            "users",
            indexes=(Index(name="ix_users_name", unique=False, definition="btree (name)"),),
            uniques=(Unique(name="uq_users_name", columns=("name",), definition="UNIQUE (name)"),),
            foreign_keys=(fk,),
        )
    )
    asked: list[tuple[str, str | None]] = []

    def only_indexes(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        asked.append((type_, name))
        if type_ == "foreign_key_constraint":
            assert obj.elements[0].target_fullname == "orgs.id"
        return type_ in ("table", "index")

    assert found(expected, actual, options(include_object=only_indexes)) == [
        ("extra_index", "users", "ix_users_name")
    ]
    assert sorted(asked) == [
        ("foreign_key_constraint", "fk_users_org"),
        ("index", "ix_users_name"),
        ("table", "users"),
        ("unique_constraint", "uq_users_name"),
    ]


def test_include_name_is_asked_with_alembics_parent_names() -> None:
    """Schema (None for the default one), table and column names are asked with alembic's
    parent_names; a refused schema or table leaves out everything in it."""
    asked: list[tuple[str | None, str, dict[str, Any]]] = []

    def names(name: str | None, type_: str, parents: dict[str, Any]) -> bool:
        asked.append((name, type_, parents))
        return name != "legacy" and name != "scratchpad"

    expected = snapshot(table("users"))
    actual = snapshot(
        table("users", columns=(ID, NAME, Column(name="scratchpad", type="text", nullable=True))),
        table("orders", schema="legacy"),
    )

    assert found(expected, actual, options(include_name=names)) == []
    assert (None, "schema", {}) in asked
    assert ("legacy", "schema", {}) in asked
    assert (
        "scratchpad",
        "column",
        {"schema_name": None, "table_name": "users", "schema_qualified_table_name": "users"},
    ) in asked
    assert ("users", "table", {"schema_name": None, "schema_qualified_table_name": "users"}) in (
        asked
    )


def test_filters_apply_to_every_attribution() -> None:
    """Drift, pending and unmigrated comparisons all leave out what the filter refuses."""
    users = table("users")
    legacy = table("legacy_orders")
    live = snapshot(users, legacy)
    at_database = snapshot(users)
    at_head = snapshot(users, table("legacy_notes"))  # a pending migration would add it
    models = snapshot(users, table("legacy_notes"), table("legacy_extra"))

    def run(opts: DiffOptions) -> set[Attribution]:
        findings, _ = attribute(
            live,
            at_database=at_database,
            steps=[("r2", at_head)],
            at_head=at_head,
            models=models,
            options=opts,
        )
        return {f.attribution for f in findings}

    assert run(DiffOptions()) == {Attribution.DRIFT, Attribution.PENDING, Attribution.UNMIGRATED}
    assert run(options(include_object=skip_legacy)) == set()


def test_each_diff_gets_objects_of_its_own_snapshots() -> None:
    """The several diffs of one check share their filters: a table of one name that differs
    between them reaches include_object as each diff's own, never one built for another."""
    seen: list[tuple[str, ...]] = []

    def columns(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "column":
            seen.append(tuple(obj.table.columns.keys()))
        return True

    note = Column(name="note", type="text", nullable=True)
    opts = options(include_object=columns)
    diff(snapshot(table("users")), snapshot(table("users", columns=(ID, NAME, note))), opts)
    diff(snapshot(table("users")), snapshot(table("users", columns=(ID, note))), opts)

    assert seen == [("id", "name", "note"), ("id", "name"), ("id", "note")]


def test_an_unnamed_unique_is_found_by_its_columns() -> None:
    """A unique constraint the server left unnamed (SQLite) reaches include_object as the
    built constraint on its columns, not as its table."""
    passed: list[object] = []

    def record(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "unique_constraint":
            passed.append(obj)
        return True

    unique = Unique(name=None, columns=("name",), definition="UNIQUE (name)")
    diff(
        snapshot(table("users")),
        snapshot(table("users", uniques=(unique,))),
        options(include_object=record),
    )

    (constraint,) = passed
    assert isinstance(constraint, sa.UniqueConstraint)
    assert [c.name for c in constraint.columns] == ["name"]


def test_no_filters_make_no_include() -> None:
    """A target naming no filter adds nothing to the diff."""
    assert env_include(ProjectFilters(), models=None, default_schema=None) is None
