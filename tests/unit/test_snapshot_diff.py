"""The snapshot diff, on snapshots built by hand: what each difference becomes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.findings import Finding, FindingKind
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

ID = Column(name="id", type="integer", nullable=False)
NAME = Column(name="name", type="character varying(50)", nullable=True)


def snapshot(*tables: Table, **objects: object) -> Snapshot:
    return Snapshot(
        dialect="postgresql",
        server_version="15.4",
        default_schema="public",
        scope=Scope(),
        tables=tables,
        **objects,  # type: ignore[arg-type]
    )


def table(name: str = "users", **parts: object) -> Table:
    fields: dict[str, object] = {
        "columns": (ID, NAME),
        "primary_key": PrimaryKey(name=f"{name}_pkey", columns=("id",)),
    }
    fields.update(parts)
    return Table(schema=None, name=name, **fields)  # type: ignore[arg-type]


def kinds(findings: list[Finding]) -> list[tuple[str, str, str | None]]:
    return [(f.kind.value, f.table, f.name) for f in findings]


def test_equal_snapshots_have_no_difference() -> None:
    """A snapshot compared with itself yields nothing."""
    users = table(checks=(Check(name="ck", expression="CHECK (id > 0)"),))
    assert diff(snapshot(users), snapshot(users)) == []


def test_a_table_on_one_side_is_one_finding() -> None:
    """A missing or extra table is one finding, not one per column or constraint."""
    indexed = table("orders", indexes=(Index(name="ix", unique=False, definition="btree (id)"),))
    findings = diff(snapshot(table(), indexed), snapshot(table(), table("audit")))
    assert kinds(findings) == [("extra_table", "audit", None), ("missing_table", "orders", None)]
    assert findings[0].schema == "public"  # the database's name for the default schema


def test_columns_missing_extra_and_changed() -> None:
    """Every property of a column is compared and named with both sides as printed."""
    want = table(
        columns=(
            ID,
            Column(name="email", type="text", nullable=False, collation="C", comment="mail"),
            Column(
                name="total",
                type="integer",
                nullable=True,
                generated="(id * 2)",
                generated_kind="stored",
            ),
            Column(name="seq", type="integer", nullable=False, identity="always"),
            Column(name="gone", type="text", nullable=True),
        )
    )
    have = table(
        columns=(
            ID,
            Column(name="email", type="character varying(80)", nullable=True, comment="e"),
            Column(
                name="total",
                type="integer",
                nullable=True,
                generated="(id * 3)",
                generated_kind="stored",
            ),
            Column(name="seq", type="integer", nullable=False, identity="by default"),
            Column(name="added", type="text", nullable=True),
        )
    )
    findings = diff(snapshot(want), snapshot(have))
    assert sorted(kinds(findings)) == sorted(
        [
            ("type_mismatch", "users", "email"),
            ("nullable_mismatch", "users", "email"),
            ("collation_mismatch", "users", "email"),
            ("comment_mismatch", "users", "email"),
            ("generated_mismatch", "users", "total"),
            ("identity_mismatch", "users", "seq"),
            ("missing_column", "users", "gone"),
            ("extra_column", "users", "added"),
        ]
    )
    by_kind = {f.kind: f for f in findings}
    assert by_kind[FindingKind.TYPE_MISMATCH].expected == "text"
    assert by_kind[FindingKind.TYPE_MISMATCH].actual == "character varying(80)"
    assert by_kind[FindingKind.GENERATED_MISMATCH].actual == (
        "GENERATED ALWAYS AS ((id * 3)) STORED"
    )
    assert by_kind[FindingKind.MISSING_COLUMN].expected == "text NULL"


def test_type_and_default_follow_the_options() -> None:
    """compare_type off hides type changes; defaults are compared only when asked."""
    want = table(columns=(ID, Column(name="n", type="integer", nullable=True, default="0")))
    have = table(columns=(ID, Column(name="n", type="bigint", nullable=True, default="1")))
    assert kinds(diff(snapshot(want), snapshot(have))) == [("type_mismatch", "users", "n")]
    off = DiffOptions(compare_type=False, compare_server_default=True)
    assert kinds(diff(snapshot(want), snapshot(have), off)) == [("default_mismatch", "users", "n")]


def test_now_and_current_timestamp_are_one_default() -> None:
    """PostgreSQL keeps CURRENT_TIMESTAMP as written; it is the same default as now()."""
    want = table(columns=(ID, Column(name="at", type="timestamp", nullable=True, default="now()")))
    have = table(
        columns=(
            ID,
            Column(name="at", type="timestamp", nullable=True, default="CURRENT_TIMESTAMP"),
        )
    )
    assert diff(snapshot(want), snapshot(have), DiffOptions(compare_server_default=True)) == []


def test_primary_key_columns_are_compared_not_its_name() -> None:
    """A primary key on other columns is a mismatch; another server-chosen name is not."""
    renamed = table(primary_key=PrimaryKey(name="pk_users", columns=("id",)))
    assert diff(snapshot(table()), snapshot(renamed)) == []
    wider = table(primary_key=PrimaryKey(name="users_pkey", columns=("id", "name")))
    findings = diff(snapshot(table()), snapshot(wider))
    assert kinds(findings) == [("primary_key_mismatch", "users", "users_pkey")]
    assert (findings[0].expected, findings[0].actual) == (
        "PRIMARY KEY (id)",
        "PRIMARY KEY (id, name)",
    )


def test_constraints_pair_by_name_then_by_definition() -> None:
    """A constraint under another (server-chosen) name but the same definition is the same."""
    want = table(uniques=(Unique(name="users_name_key", columns=("name",),
                                 definition="UNIQUE (name)"),))  # fmt: skip
    have = table(uniques=(Unique(name="uq_users_name", columns=("name",),
                                 definition="UNIQUE (name)"),))  # fmt: skip
    assert diff(snapshot(want), snapshot(have)) == []


def test_check_with_the_same_name_and_another_expression_is_a_mismatch() -> None:
    """A CHECK rewritten under its old name is check_mismatch with both expressions."""
    want = table(checks=(Check(name="ck_id", expression="CHECK (id > 0)"),))
    have = table(checks=(Check(name="ck_id", expression="CHECK (id > 10)"),))
    findings = diff(snapshot(want), snapshot(have))
    assert kinds(findings) == [("check_mismatch", "users", "ck_id")]
    assert (findings[0].expected, findings[0].actual) == ("CHECK (id > 0)", "CHECK (id > 10)")


def test_index_changes() -> None:
    """A partial index's WHERE changed is index_mismatch; others are missing or extra."""
    partial = Index(name="ix_name", unique=False, definition="btree (name) WHERE (id > 0)")
    want = table(indexes=(partial, Index(name="ix_gone", unique=False, definition="btree (id)")))
    have = table(
        indexes=(
            replace(partial, definition="btree (name) WHERE (id > 5)"),
            Index(name="ix_new", unique=True, definition="btree (lower(name))"),
        )
    )
    findings = diff(snapshot(want), snapshot(have))
    assert kinds(findings) == [
        ("extra_index", "users", "ix_new"),
        ("index_mismatch", "users", "ix_name"),
        ("missing_index", "users", "ix_gone"),
    ]
    assert findings[0].actual == "UNIQUE INDEX USING btree (lower(name))"


def test_foreign_key_rule_change() -> None:
    """An FK whose ON DELETE changed is foreign_key_mismatch; the default rule is None."""
    fk = ForeignKey(
        name="fk_org",
        columns=("org_id",),
        referred_schema=None,
        referred_table="orgs",
        referred_columns=("id",),
    )
    findings = diff(
        snapshot(table(foreign_keys=(fk,))),
        snapshot(table(foreign_keys=(replace(fk, on_delete="CASCADE"),))),
    )
    assert kinds(findings) == [("foreign_key_mismatch", "users", "fk_org")]
    assert findings[0].expected == "FOREIGN KEY (org_id) REFERENCES orgs (id)"
    assert findings[0].actual == "FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE"


def test_enum_labels_missing_extra_and_reordered_on_each_column() -> None:
    """Label changes are said on each column of the type; a reorder alone is its own kind."""
    mood = Column(name="mood", type="mood", nullable=True)
    users = table(columns=(ID, mood))
    want = EnumType(schema=None, name="mood", labels=("sad", "ok", "happy"))
    added = diff(
        snapshot(users, enums=(want,)),
        snapshot(users, enums=(replace(want, labels=("sad", "ok", "happy", "meh")),)),
    )
    assert kinds(added) == [("extra_enum_value", "users", "mood")]
    assert "'meh'" in added[0].message
    reordered = diff(
        snapshot(users, enums=(want,)),
        snapshot(users, enums=(replace(want, labels=("happy", "ok", "sad")),)),
    )
    assert kinds(reordered) == [("enum_order_mismatch", "users", "mood")]


def test_mysql_enum_column_labels() -> None:
    """A MySQL ENUM column whose labels changed gets the enum kinds, not type_mismatch."""
    want = table(columns=(ID, Column(name="s", type="enum('a','it''s')", nullable=True)))
    have = table(columns=(ID, Column(name="s", type="enum('a')", nullable=True)))
    findings = diff(snapshot(want), snapshot(have))
    assert kinds(findings) == [("missing_enum_value", "users", "s")]
    assert '"it\'s"' in findings[0].message


@pytest.mark.parametrize(
    ("field", "kinds_found"),
    [
        ("views", ["missing_view", "extra_view", "view_mismatch"]),
        ("sequences", ["missing_sequence", "extra_sequence", "sequence_mismatch"]),
    ],
)
def test_views_and_sequences(field: str, kinds_found: list[str]) -> None:
    """Views and sequences are compared by name and definition."""
    if field == "views":
        a, b, c = (View(schema=None, name=n, definition=f"SELECT {n}") for n in "abc")
    else:
        a, b, c = (
            Sequence(schema=None, name=n, definition="bigint START 1 INCREMENT 1") for n in "abc"
        )
    changed = replace(c, definition=c.definition + " 2")
    findings = diff(snapshot(**{field: (a, c)}), snapshot(**{field: (b, changed)}))
    assert sorted(f.kind.value for f in findings) == sorted(kinds_found)


def test_refused_model_statements_are_findings() -> None:
    """A statement the scratch database refused while building the models is reported."""
    refused = replace(snapshot(), problems=("CREATE INDEX ix ON t (): syntax error",))
    findings = diff(refused, snapshot())
    assert [f.kind for f in findings] == [FindingKind.MODEL_NOT_CREATED]


def test_a_serial_sequence_goes_with_its_table() -> None:
    """A missing table's serial sequence is part of that one finding, not a second one."""
    orders = table("orders")
    owned = Sequence(schema=None, name="orders_id_seq", definition="integer", owned_by="orders.id")
    findings = diff(snapshot(table(), orders, sequences=(owned,)), snapshot(table()))
    assert kinds(findings) == [("missing_table", "orders", None)]
