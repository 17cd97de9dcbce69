"""Enum labels and CHECK constraints compared by hand-built inputs. No database anywhere."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from driftwatch.compare.autogenerate import findings_from_diffs
from driftwatch.compare.catalog import LiveCatalog, native_enum_uses
from driftwatch.compare.catalog import catalog_diffs as diffs_with_uses
from driftwatch.findings import FindingKind

PG = postgresql.dialect()
MY = mysql.dialect()
LITE = sqlite.dialect()


def models() -> sa.MetaData:
    metadata = sa.MetaData(naming_convention={"ck": "ck_%(table_name)s_%(constraint_name)s"})
    sa.Table(
        "runs",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("status", sa.Enum("pending", "done", name="run_status")),
        sa.Column("previous", sa.Enum("pending", "done", name="run_status")),
        sa.Column("kind", sa.Enum("a", "b", name="run_kind", native_enum=False)),
        sa.Column("attempt", sa.Integer),
        sa.CheckConstraint("attempt >= 0", name="attempt_not_negative"),
    )
    return metadata


def unconventional() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "jobs",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.Enum("new", "old", name="job_state", schema="types")),
        sa.CheckConstraint("id > 0"),  # unnamed: the database names it itself
        schema="work",
    )
    return metadata


RUNS, JOBS = models().tables["runs"], unconventional().tables["work.jobs"]


def live(
    enums: dict[tuple[str | None, str], tuple[str, ...]] | None = None,
    checks: dict[tuple[str | None, str], dict[str | None, str]] | None = None,
) -> LiveCatalog:
    return LiveCatalog(enums=enums or {}, checks=checks or {})


AT_HEAD = live(
    enums={(None, "run_status"): ("pending", "done"), ("types", "job_state"): ("new", "old")},
    checks={
        (None, "runs"): {"ck_runs_attempt_not_negative": "CHECK ((attempt >= 0))"},
        ("work", "jobs"): {"jobs_id_check": "CHECK ((id > 0))"},
    },
)


def catalog_diffs(
    tables: list[sa.Table],
    catalog: LiveCatalog,
    dialect: Any,
    default_schema: str | None,
    *,
    compare_enums: bool = True,
) -> list[Any]:
    """The comparison as collect runs it: enum columns found first (none without types)."""
    uses = native_enum_uses(tables, dialect, default_schema) if compare_enums else []
    return diffs_with_uses(tables, uses, catalog, dialect, default_schema)


def kinds(diffs: list[Any], dialect: Any = PG) -> list[tuple[str, str, str | None]]:
    return [(f.kind.value, f.table, f.name) for f in findings_from_diffs(diffs, dialect, "public")]


def test_matching_catalog_has_no_diffs() -> None:
    """Labels equal and every named check present: nothing, and the unnamed one is no alarm."""
    assert catalog_diffs([RUNS, JOBS], AT_HEAD, PG, "public") == []


def test_only_named_native_enums_are_compared_and_each_column_counts() -> None:
    """A non-native enum is a VARCHAR; a type's schema is its own, not its table's."""
    uses = native_enum_uses([RUNS, JOBS], PG, "public")

    assert [(u.table, u.column, u.type_key) for u in uses] == [
        ("runs", "status", (None, "run_status")),
        ("runs", "previous", (None, "run_status")),
        ("jobs", "state", ("types", "job_state")),
    ]
    assert native_enum_uses([RUNS], MY, None) == []  # MySQL's ENUM is alembic's to compare


def test_labels_on_either_side_only() -> None:
    """A label the database lacks and one it has extra are two findings per column."""
    drifted = live(
        enums={(None, "run_status"): ("pending", "cancelled"), ("types", "job_state"): ("new",)},
        checks=AT_HEAD.checks,
    )

    found = findings_from_diffs(catalog_diffs([RUNS, JOBS], drifted, PG, "public"), PG, "public")

    assert [(f.kind.value, f.schema, f.table, f.name) for f in found] == [
        ("extra_enum_value", "public", "runs", "previous"),
        ("extra_enum_value", "public", "runs", "status"),
        ("missing_enum_value", "public", "runs", "previous"),
        ("missing_enum_value", "public", "runs", "status"),
        ("missing_enum_value", "work", "jobs", "state"),
    ]
    missing = next(f for f in found if f.kind is FindingKind.MISSING_ENUM_VALUE)
    assert missing.expected == "ENUM run_status ('pending', 'done')"
    assert missing.actual == "ENUM run_status ('pending', 'cancelled')"
    assert "'done'" in missing.message


def test_enums_are_skipped_when_types_are_not_compared_or_the_type_is_gone() -> None:
    """compare_type=False leaves labels alone; a type the database lacks is alembic's to say."""
    drifted = live(enums={(None, "run_status"): ("x",)}, checks=AT_HEAD.checks)

    assert catalog_diffs([RUNS], drifted, PG, "public", compare_enums=False) == []
    assert catalog_diffs([RUNS], live(checks=AT_HEAD.checks), PG, "public") == []


def test_check_constraints_by_name() -> None:
    """Missing by its convention name; extra unless the table has an unnamed one."""
    drifted = live(
        enums=AT_HEAD.enums,
        checks={
            (None, "runs"): {"ck_runs_attempt_small": "CHECK ((attempt < 10))"},
            ("work", "jobs"): {"jobs_id_check": "CHECK (id > 0)", "other": "CHECK (id < 9)"},
        },
    )

    found = findings_from_diffs(catalog_diffs([RUNS, JOBS], drifted, PG, "public"), PG, "public")

    assert [(f.kind.value, f.table, f.name, f.expected, f.actual) for f in found] == [
        ("extra_check", "runs", "ck_runs_attempt_small", None, "CHECK ((attempt < 10))"),
        ("missing_check", "runs", "ck_runs_attempt_not_negative", "CHECK (attempt >= 0)", None),
    ]


def test_mysql_constraint_names_ignore_case() -> None:
    """MySQL and MariaDB compare constraint names without case."""
    shouting = live(checks={(None, "runs"): {"CK_RUNS_ATTEMPT_NOT_NEGATIVE": "CHECK (x)"}})

    assert catalog_diffs([RUNS], shouting, MY, None) == []
    assert kinds(catalog_diffs([RUNS], shouting, LITE, None), LITE) == [
        ("extra_check", "runs", "CK_RUNS_ATTEMPT_NOT_NEGATIVE"),
        ("missing_check", "runs", "ck_runs_attempt_not_negative"),
    ]


def test_mysql_enum_type_change_becomes_label_findings() -> None:
    """alembic's modify_type between two ENUMs that differ in labels names the labels."""
    live_type = mysql.ENUM("pending", "done", "paused")
    diff = ("modify_type", None, "runs", "status", {}, live_type, RUNS.c.status.type)

    (finding,) = findings_from_diffs([[diff]], MY, "shop")

    assert (finding.kind, finding.name) == (FindingKind.EXTRA_ENUM_VALUE, "status")
    assert finding.actual == "ENUM run_status ('pending', 'done', 'paused')"


def test_enum_labels_in_another_order_stay_a_type_change() -> None:
    """The same labels reordered is a type change (sort order), not a label finding."""
    live_type = mysql.ENUM("done", "pending")
    diff = ("modify_type", None, "runs", "status", {}, live_type, RUNS.c.status.type)

    assert [f.kind for f in findings_from_diffs([[diff]], MY, "shop")] == [
        FindingKind.TYPE_MISMATCH
    ]


def test_details_of_a_missing_table_are_not_repeated() -> None:
    """A table missing from the database is one finding, not its checks as well."""
    diffs: list[Any] = [("add_table", RUNS), *catalog_diffs([RUNS], live(), PG, "public")]

    assert kinds(diffs) == [("missing_table", "runs", None)]


def test_column_level_checks_count_and_type_checks_only_where_created() -> None:
    """A CHECK on a column is the table's too; Enum/Boolean create_constraint adds one only
    where the type is not native, so PostgreSQL lacks them without drift."""
    metadata = sa.MetaData(naming_convention={"ck": "ck_%(table_name)s_%(constraint_name)s"})
    items = sa.Table(
        "items",
        metadata,
        sa.Column("qty", sa.Integer, sa.CheckConstraint("qty >= 0", name="qty")),
        sa.Column("flag", sa.Boolean(create_constraint=True, name="flag")),
        sa.Column("state", sa.Enum("a", "b", name="item_state", create_constraint=True)),
    )
    bare = sa.Table("bare", sa.MetaData(), sa.Column("n", sa.Integer, sa.CheckConstraint("n > 0")))
    on_pg = live(
        enums={(None, "item_state"): ("a", "b")},
        checks={(None, "items"): {"ck_items_qty": "CHECK ((qty >= 0))"},
                (None, "bare"): {"bare_n_check": "CHECK ((n > 0))"}},
    )  # fmt: skip

    assert catalog_diffs([items, bare], on_pg, PG, "public") == []
    assert kinds(catalog_diffs([items], live(), PG, "public")) == [
        ("missing_check", "items", "ck_items_qty")
    ]
    # MariaDB has no native boolean: that CHECK is created there, and missing if absent
    assert kinds(catalog_diffs([items], live(checks=on_pg.checks), MY, None), MY) == [
        ("missing_check", "items", "ck_items_flag")
    ]


def test_a_renamed_enum_type_stays_a_type_change() -> None:
    """Another enum type in the database is not the models' type with other labels."""
    live_type = postgresql.ENUM("pending", "done", name="old_status")
    diff = ("modify_type", None, "runs", "status", {}, live_type, RUNS.c.status.type)

    assert [f.kind for f in findings_from_diffs([[diff]], PG, "public")] == [
        FindingKind.TYPE_MISMATCH
    ]
