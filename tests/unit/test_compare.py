"""alembic's diff tuples, built by hand, become typed findings. No database anywhere."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import DefaultClause

from driftwatch.compare.autogenerate import findings_from_diffs
from driftwatch.findings import Finding, FindingKind, Severity

PG = postgresql.dialect()


def models() -> sa.MetaData:
    metadata = sa.MetaData()
    users = sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.UniqueConstraint("email", name="uq_users_email"),
        comment="people",
    )
    sa.Index("ix_users_email", users.c.email)
    sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_orders_users", ondelete="CASCADE"
        ),
        sa.Index("ix_orders_user_id", "user_id"),
    )
    sa.Table("audit_log", metadata, sa.Column("id", sa.Integer), schema="audit")
    return metadata


M = models()
USERS, ORDERS, AUDIT = M.tables["users"], M.tables["orders"], M.tables["audit.audit_log"]
UQ = next(c for c in USERS.constraints if isinstance(c, sa.UniqueConstraint))
FK = next(iter(ORDERS.foreign_key_constraints))
IX_ORDERS = next(iter(ORDERS.indexes))


def one(diff: Any) -> Finding:
    (finding,) = findings_from_diffs([diff], PG, "public")
    return finding


def summary(finding: Finding) -> tuple[Any, ...]:
    return (
        finding.kind,
        finding.schema,
        finding.table,
        finding.name,
        finding.expected,
        finding.actual,
    )


def test_add_table_is_missing_table() -> None:
    """A table only the models have is missing_table, schema defaulted to the database's."""
    assert summary(one(("add_table", USERS))) == (
        FindingKind.MISSING_TABLE,
        "public",
        "users",
        None,
        "table",
        None,
    )


def test_remove_table_is_extra_table_in_its_schema() -> None:
    """A table only the database has is extra_table; a named schema is kept."""
    assert summary(one(("remove_table", AUDIT))) == (
        FindingKind.EXTRA_TABLE,
        "audit",
        "audit_log",
        None,
        None,
        "table",
    )


def test_columns_present_on_one_side() -> None:
    """add_column / remove_column become missing_column / extra_column with the column's DDL."""
    missing = one(("add_column", None, "users", sa.Column("email", sa.String(255), nullable=False)))
    extra = one(("remove_column", None, "users", sa.Column("nick", sa.String(40))))

    assert summary(missing) == (
        FindingKind.MISSING_COLUMN,
        "public",
        "users",
        "email",
        "VARCHAR(255) NOT NULL",
        None,
    )
    assert summary(extra) == (
        FindingKind.EXTRA_COLUMN,
        "public",
        "users",
        "nick",
        None,
        "VARCHAR(40) NULL",
    )


def column_change(tag: str, live: Any, model: Any) -> tuple[Any, ...]:
    return (tag, None, "users", "email", {"existing_nullable": False}, live, model)


@pytest.mark.parametrize(
    ("diff", "expected"),
    [
        (
            column_change("modify_type", sa.String(100), sa.String(255)),
            (FindingKind.TYPE_MISMATCH, "VARCHAR(255)", "VARCHAR(100)"),
        ),
        (
            column_change("modify_nullable", True, False),
            (FindingKind.NULLABLE_MISMATCH, "NOT NULL", "NULL"),
        ),
        (
            column_change("modify_default", DefaultClause(sa.text("'old'")), DefaultClause("new")),
            (FindingKind.DEFAULT_MISMATCH, "new", "'old'"),
        ),
        (
            column_change("modify_default", DefaultClause(sa.text("now()")), None),
            (FindingKind.DEFAULT_MISMATCH, None, "now()"),
        ),
        (
            column_change("modify_comment", "live words", "model words"),
            (FindingKind.COMMENT_MISMATCH, "model words", "live words"),
        ),
    ],
    ids=["type", "nullable", "default", "default_removed", "comment"],
)
def test_column_changes(diff: tuple[Any, ...], expected: tuple[Any, ...]) -> None:
    """modify_* tuples (live value, then model value) become mismatches the right way round."""
    finding = one(diff)

    assert (finding.kind, finding.expected, finding.actual) == expected
    assert (finding.table, finding.name) == ("users", "email")
    assert finding.message.startswith("column users.email ")


def test_modifications_arrive_as_lists_per_column() -> None:
    """alembic groups one column's modify_* tuples in a list; each becomes a finding."""
    grouped = [
        column_change("modify_type", sa.String(100), sa.String(255)),
        column_change("modify_nullable", True, False),
    ]

    kinds = [f.kind for f in findings_from_diffs([grouped], PG, "public")]

    assert kinds == [FindingKind.NULLABLE_MISMATCH, FindingKind.TYPE_MISMATCH]


def test_indexes() -> None:
    """add_index / remove_index become missing_index / extra_index with the columns."""
    assert summary(one(("add_index", IX_ORDERS))) == (
        FindingKind.MISSING_INDEX,
        "public",
        "orders",
        "ix_orders_user_id",
        "INDEX (user_id)",
        None,
    )
    live = sa.Table("users", sa.MetaData(), sa.Column("email", sa.String))
    unique = sa.Index("ux_users_email", live.c.email, unique=True)
    assert summary(one(("remove_index", unique))) == (
        FindingKind.EXTRA_INDEX,
        "public",
        "users",
        "ux_users_email",
        None,
        "UNIQUE INDEX (email)",
    )


def test_unique_constraints() -> None:
    """add_constraint / remove_constraint of a UniqueConstraint are missing/extra_unique."""
    assert summary(one(("add_constraint", UQ))) == (
        FindingKind.MISSING_UNIQUE,
        "public",
        "users",
        "uq_users_email",
        "UNIQUE (email)",
        None,
    )
    assert one(("remove_constraint", UQ)).kind is FindingKind.EXTRA_UNIQUE


def test_foreign_keys() -> None:
    """add_fk / remove_fk are missing/extra_foreign_key, described with target and actions."""
    missing = one(("add_fk", FK))

    assert summary(missing) == (
        FindingKind.MISSING_FOREIGN_KEY,
        "public",
        "orders",
        "fk_orders_users",
        "(user_id) REFERENCES users (id) ON DELETE CASCADE",
        None,
    )
    extra = one(("remove_fk", FK))
    assert (extra.kind, extra.actual) == (
        FindingKind.EXTRA_FOREIGN_KEY,
        "(user_id) REFERENCES users (id) ON DELETE CASCADE",
    )


def test_table_comments() -> None:
    """A changed table comment carries both sides; a comment only live carries the live one."""
    changed = one(("add_table_comment", USERS, "humans"))
    assert summary(changed) == (
        FindingKind.COMMENT_MISMATCH,
        "public",
        "users",
        None,
        "people",
        "humans",
    )

    live_only = sa.Table("orders", sa.MetaData(), comment="legacy")
    dropped = one(("remove_table_comment", live_only))
    assert (dropped.kind, dropped.expected, dropped.actual) == (
        FindingKind.COMMENT_MISMATCH,
        None,
        "legacy",
    )


def test_details_of_a_missing_table_are_not_repeated() -> None:
    """A missing table's own indexes and constraints are not findings of their own."""
    diffs = [("add_table", ORDERS), ("add_index", IX_ORDERS), ("add_fk", FK)]

    assert [f.kind for f in findings_from_diffs(diffs, PG, "public")] == [FindingKind.MISSING_TABLE]


def test_findings_are_sorted_by_schema_table_kind_name() -> None:
    """Output order is stable whatever order alembic produced."""
    diffs = [
        ("remove_column", None, "users", sa.Column("zeta", sa.Integer)),
        ("remove_table", AUDIT),
        ("add_index", IX_ORDERS),
        ("remove_column", None, "users", sa.Column("alpha", sa.Integer)),
    ]

    found = [(f.schema, f.table, f.name) for f in findings_from_diffs(diffs, PG, "public")]

    assert found == [
        ("audit", "audit_log", None),
        ("public", "orders", "ix_orders_user_id"),
        ("public", "users", "alpha"),
        ("public", "users", "zeta"),
    ]


def test_an_unknown_diff_is_kept_as_other() -> None:
    """A diff tag with no kind yet is reported as `other`, never dropped."""
    finding = one(("add_something_new", object()))

    assert finding.kind is FindingKind.OTHER
    assert "add_something_new" in finding.message


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        (FindingKind.MISSING_COLUMN, Severity.ERROR),
        (FindingKind.EXTRA_INDEX, Severity.WARNING),
        (FindingKind.COMMENT_MISMATCH, Severity.INFO),
    ],
)
def test_every_kind_has_a_severity(kind: FindingKind, severity: Severity) -> None:
    """Severities are defined for all kinds, with the documented examples."""
    assert {
        Finding(
            kind=k, schema=None, table="t", name=None, expected=None, actual=None, message="m"
        ).severity
        for k in FindingKind
    } <= set(Severity)
    finding = Finding(
        kind=kind, schema=None, table="t", name=None, expected=None, actual=None, message="m"
    )
    assert finding.severity is severity


def test_no_diffs_no_findings() -> None:
    """Nothing in, nothing out."""
    assert findings_from_diffs([], PG, "public") == []
