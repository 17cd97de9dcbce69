"""Fix SQL, proven by a round trip on real servers: change, check, apply the fix, check again.

Each case starts from the shop scenario migrated to head, makes one out-of-band change (the
matrix of test_check_findings, and a few more), checks it through the snapshot comparison,
runs every finding's fix SQL on that throwaway database (only a test ever runs it), and
checks again: zero findings. Database-against-database cases do the same for what the
models cannot express (views, partial indexes, enum types no column uses).
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.compare.fix import fix_sql, statements_of
from driftwatch.findings import Attribution, Finding, FindingKind
from tests.integration.test_check_findings import (
    DIALECTS,
    DRIFTS,
    URL_FIXTURES,
    Change,
    Drift,
    Unsupported,
    _apply,
    comparing,
)
from tests.integration.test_snapshot_coverage import _snapshot, second_url  # noqa: F401
from tests.support.scenarios import Rebuild, execute, migrate, shop_target

MORE_DRIFTS = [
    Drift(
        id="dropped_default",
        kind=FindingKind.DEFAULT_MISMATCH,
        table="orders",
        name="status",
        postgresql=("ALTER TABLE orders ALTER COLUMN status DROP DEFAULT",),
        mysql=("ALTER TABLE orders ALTER COLUMN status DROP DEFAULT",),
        sqlite=Rebuild("orders", ((" DEFAULT 'new'", ""),)),
    ),
    Drift(
        id="dropped_not_null",
        kind=FindingKind.NULLABLE_MISMATCH,
        table="users",
        name="email",
        postgresql=("ALTER TABLE users ALTER COLUMN email DROP NOT NULL",),
        mysql=("ALTER TABLE users MODIFY email VARCHAR(255) NULL",),
        sqlite=Rebuild("users", (("email VARCHAR(255) NOT NULL", "email VARCHAR(255)"),)),
    ),
    Drift(
        id="dropped_default_timestamp",
        kind=FindingKind.DEFAULT_MISMATCH,
        table="users",
        name="created_at",
        postgresql=("ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT",),
        mysql=("ALTER TABLE users ALTER COLUMN created_at DROP DEFAULT",),
        sqlite=Unsupported("covered by dropped_default"),
    ),
]

# what SQLite's ALTER TABLE cannot do: the table would have to be rebuilt
SQLITE_REBUILDS = {
    "type_mismatch",
    "nullable_mismatch",
    "default_mismatch",
    "generated_mismatch",
    "missing_unique",
    "extra_unique",
    "missing_foreign_key",
    "extra_foreign_key",
    "missing_check",
    "extra_check",
    "primary_key_mismatch",
    "check_mismatch",
    "foreign_key_mismatch",
    "unique_mismatch",
    "collation_mismatch",
    "dropped_default",
    "dropped_not_null",
}
# PostgreSQL cannot remove an enum label or reorder labels: the type must be rebuilt
NO_FIX = {
    ("postgresql", "extra_enum_value"),
    ("postgresql", "enum_order_mismatch"),
    *(("sqlite", case) for case in SQLITE_REBUILDS),
}


def _check(url: URL) -> tuple[Finding, ...]:
    target = shop_target(url, compare_server_default=True, **comparing("snapshot", url))
    report = asyncio.run(check_target(target))
    assert report.error is None, report.error
    # the shop at head: the fix restores what its migrations produce (the models, here)
    assert report.schema is not None and report.schema.method == "replay"
    assert {f.attribution for f in report.schema.findings} <= {Attribution.DRIFT}
    return report.schema.findings


def run_fixes(url: URL, findings: tuple[Finding, ...] | list[Finding]) -> None:
    """Every finding's fix, in report order, as one person at a SQL prompt would.

    A default has no fix of its own where the column's identity or generation differs too:
    that finding's fix puts the default back with it."""
    owners = {
        (f.table, f.name)
        for f in findings
        if f.kind in (FindingKind.IDENTITY_MISMATCH, FindingKind.GENERATED_MISMATCH)
    }
    for finding in findings:
        if finding.fix is None:
            assert finding.kind is FindingKind.DEFAULT_MISMATCH, finding
            assert (finding.table, finding.name) in owners, finding
            continue
        execute(url, *statements_of(finding.fix))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("drift", DRIFTS + MORE_DRIFTS, ids=[d.id for d in DRIFTS + MORE_DRIFTS])
def test_fix_sql_brings_the_database_back_to_the_models(
    drift: Drift, dialect: str, request: pytest.FixtureRequest
) -> None:
    """After the out-of-band change, running the findings' fix SQL leaves zero findings
    (or, where the dialect cannot alter the object, the finding says so with no fix)."""
    change: Change = getattr(drift, dialect)
    if isinstance(change, Unsupported):
        pytest.skip(change.reason)
    url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    migrate(url, "head")
    _apply(url, change)

    findings = _check(url)

    assert findings
    if (dialect, drift.id) in NO_FIX:
        assert any(f.fix is None for f in findings)
        return
    run_fixes(url, findings)
    assert _check(url) == ()


# --- database against database: what the models do not express -------------------------

PG_BASE = (
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE TABLE t (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY, a INTEGER, "
    "b TEXT, m mood, c INTEGER GENERATED ALWAYS AS (a * 2) STORED)",
    "CREATE INDEX ix_t_a ON t (a) WHERE a > 0",
    "CREATE UNIQUE INDEX ix_t_lower_b ON t (lower(b))",
    "CREATE VIEW v AS SELECT id, a FROM t WHERE a > 0",
    "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t",
    "COMMENT ON VIEW v IS 'positive'",
    "CREATE SEQUENCE counter INCREMENT BY 2",
    'CREATE TABLE "Odd Name" ("select" INTEGER PRIMARY KEY, "Mixed" TEXT DEFAULT \'it\'\'s\')',
    'CREATE INDEX "Odd Index" ON "Odd Name" ("Mixed")',
)
MY_BASE = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY AUTO_INCREMENT, a INTEGER, b VARCHAR(40), "
    "c INTEGER AS (a * 2) PERSISTENT)",
    "CREATE INDEX ix_t_b ON t (b(10) DESC, a)",
    "CREATE VIEW v AS SELECT id, a FROM t WHERE a > 0",
    "CREATE TABLE `odd name` (`select` INTEGER PRIMARY KEY, `Mixed` VARCHAR(10) "
    "DEFAULT 'it''s' COMMENT 'back\\\\slash')",
    "CREATE INDEX `odd index` ON `odd name` (`Mixed`)",
)
SQLITE_BASE = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a INTEGER, b TEXT)",
    "CREATE INDEX ix_t_a ON t (a) WHERE a > 0",
    "CREATE INDEX ix_t_lower_b ON t (lower(b) DESC)",
    "CREATE VIEW v AS SELECT id, a FROM t WHERE a > 0",
    'CREATE TABLE "odd name" ("select" INTEGER PRIMARY KEY, "Mixed" TEXT)',
    'CREATE INDEX "odd index" ON "odd name" ("Mixed")',
)
BASES = {"postgresql": PG_BASE, "mysql": MY_BASE, "sqlite": SQLITE_BASE}

PAIRS = [
    (
        "postgresql",
        "partial_index_where",
        ("DROP INDEX ix_t_a", "CREATE INDEX ix_t_a ON t (a) WHERE a > 5"),
    ),
    (
        "postgresql",
        "view_changed",
        ("CREATE OR REPLACE VIEW v AS SELECT id, a FROM t WHERE a > 7",),
    ),
    ("postgresql", "view_dropped", ("DROP VIEW v",)),
    ("postgresql", "view_extra", ("CREATE VIEW w AS SELECT 1 AS one",)),
    (
        "postgresql",
        "materialized_view_changed",
        ("DROP MATERIALIZED VIEW mv", "CREATE MATERIALIZED VIEW mv AS SELECT id, a FROM t"),
    ),
    ("postgresql", "view_comment", ("COMMENT ON VIEW v IS 'it''s changed'",)),
    (
        "postgresql",
        "enum_label_dropped",
        (
            "DROP VIEW v",
            "DROP MATERIALIZED VIEW mv",
            "ALTER TABLE t DROP COLUMN m",
            "DROP TYPE mood",
            "CREATE TYPE mood AS ENUM ('ok')",
            "ALTER TABLE t ADD COLUMN m mood",
            "CREATE VIEW v AS SELECT id, a FROM t WHERE a > 0",
            "CREATE MATERIALIZED VIEW mv AS SELECT id FROM t",
            "COMMENT ON VIEW v IS 'positive'",
        ),
    ),
    (
        "postgresql",
        "enum_type_dropped",
        ("ALTER TABLE t DROP COLUMN m", "DROP TYPE mood", "ALTER TABLE t ADD COLUMN m TEXT"),
    ),
    ("postgresql", "sequence_changed", ("ALTER SEQUENCE counter INCREMENT BY 3 CYCLE",)),
    ("postgresql", "sequence_dropped", ("DROP SEQUENCE counter",)),
    ("postgresql", "identity_dropped", ("ALTER TABLE t ALTER COLUMN id DROP IDENTITY",)),
    ("postgresql", "generated_dropped", ("ALTER TABLE t ALTER COLUMN c DROP EXPRESSION",)),
    ("postgresql", "unique_index_dropped", ("DROP INDEX ix_t_lower_b",)),
    (
        "postgresql",
        "odd_names",
        (
            'DROP INDEX "Odd Index"',
            'ALTER TABLE "Odd Name" ALTER COLUMN "Mixed" DROP DEFAULT',
            'ALTER TABLE "Odd Name" ADD COLUMN "from" INTEGER',
        ),
    ),
    ("postgresql", "odd_table_dropped", ('DROP TABLE "Odd Name"',)),
    (
        "mysql",
        "prefix_index_changed",
        ("DROP INDEX ix_t_b ON t", "CREATE INDEX ix_t_b ON t (b, a)"),
    ),
    ("mysql", "view_changed", ("CREATE OR REPLACE VIEW v AS SELECT id FROM t",)),
    ("mysql", "view_dropped", ("DROP VIEW v",)),
    ("mysql", "auto_increment_dropped", ("ALTER TABLE t MODIFY id INTEGER NOT NULL",)),
    ("mysql", "generated_dropped", ("ALTER TABLE t MODIFY c INTEGER NULL",)),
    (
        "mysql",
        "odd_names",
        (
            "DROP INDEX `odd index` ON `odd name`",
            "ALTER TABLE `odd name` MODIFY `Mixed` VARCHAR(10)",
        ),
    ),
    ("mysql", "odd_table_dropped", ("DROP TABLE `odd name`",)),
    (
        "sqlite",
        "partial_index_where",
        ("DROP INDEX ix_t_a", "CREATE INDEX ix_t_a ON t (a) WHERE a > 5"),
    ),
    ("sqlite", "expression_index_dropped", ("DROP INDEX ix_t_lower_b",)),
    ("sqlite", "view_changed", ("DROP VIEW v", "CREATE VIEW v AS SELECT id FROM t")),
    (
        "sqlite",
        "odd_names",
        ('DROP INDEX "odd index"', 'ALTER TABLE "odd name" ADD COLUMN "from" INTEGER'),
    ),
    ("sqlite", "odd_table_dropped", ('DROP TABLE "odd name"',)),
    (
        "sqlite",
        "table_dropped",
        ("DROP VIEW v", "DROP TABLE t", "CREATE VIEW v AS SELECT id, a FROM t WHERE a > 0"),
    ),
]


@pytest.mark.parametrize(
    ("dialect", "case", "change"), PAIRS, ids=[f"{p[0]}-{p[1]}" for p in PAIRS]
)
def test_fix_sql_makes_a_database_equal_to_another(
    dialect: str,
    case: str,
    change: tuple[str, ...],
    second_url: dict[str, URL],  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    """Two databases built alike, one changed by hand: the fixes of the diff, run on the
    changed one, make the diff empty."""
    expected_url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    live_url = second_url[dialect]
    execute(expected_url, *BASES[dialect])
    execute(live_url, *BASES[dialect])
    execute(live_url, *change)
    expected, actual = _snapshot(expected_url), _snapshot(live_url)
    options = DiffOptions(compare_server_default=True)

    findings = diff(expected, actual, options)

    assert findings, case
    for finding in findings:
        fix = fix_sql(finding, expected, actual)
        assert fix is not None, finding
        execute(live_url, *statements_of(fix))
    assert diff(expected, _snapshot(live_url), options) == []
