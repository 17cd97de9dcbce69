"""Which schemas and tables a check looks at: several schemas, include/exclude patterns.

Patterns filter table names before reflection, so an excluded table costs nothing: it is
never named in a statement, and a table that cannot even be reflected cleanly is not touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import SAWarning

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.findings import FindingKind
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionStateKind
from tests.integration.test_check_findings import comparing
from tests.support.scenarios import (
    AUDITED,
    alembic_config,
    audited_target,
    execute,
    migrate,
    shop_target,
)
from tests.support.servers import asyncpg_dsn

Found = list[tuple[str | None, str, FindingKind, str | None]]


def _check(target: Target) -> TargetReport:
    report = asyncio.run(check_target(target))
    assert report.error is None, report.error
    return report


def _found(report: TargetReport) -> Found:
    assert report.schema is not None and report.schema.compared
    return [(f.schema, f.table, f.kind, f.name) for f in report.schema.findings]


def _migrate_audited(url: URL, **config: Any) -> None:
    migrate(url, "head", config=alembic_config(AUDITED, **config))


# --- several schemas (PostgreSQL) -----------------------------------------------------


@pytest.mark.parametrize("compare_server_default", [False, True])
def test_two_schemas_at_head_have_no_findings(pg_url: URL, compare_server_default: bool) -> None:
    """Models spanning public and audit, migrated to head, match: no finding, at head."""
    _migrate_audited(pg_url)

    report = _check(audited_target(pg_url, compare_server_default=compare_server_default))

    assert _found(report) == []
    assert report.revision is not None and report.revision.kind is RevisionStateKind.AT_HEAD


def test_drift_in_the_second_schema_is_found_and_named(pg_url: URL) -> None:
    """Changes inside the audit schema are findings whose schema is audit."""
    _migrate_audited(pg_url)
    execute(
        pg_url,
        "ALTER TABLE audit.events ADD COLUMN ip VARCHAR(45)",
        "DROP INDEX audit.ix_events_account_id",
        "CREATE TABLE audit.logins (id INTEGER PRIMARY KEY)",
        "ALTER TABLE accounts ADD COLUMN email VARCHAR(200)",
    )

    assert _found(_check(audited_target(pg_url))) == [
        ("audit", "events", FindingKind.EXTRA_COLUMN, "ip"),
        ("audit", "events", FindingKind.MISSING_INDEX, "ix_events_account_id"),
        ("audit", "logins", FindingKind.EXTRA_TABLE, None),
        ("public", "accounts", FindingKind.EXTRA_COLUMN, "email"),
    ]


def test_schemas_without_models_are_not_watched_unless_named(pg_url: URL) -> None:
    """A schema the models do not use is ignored by default and compared when listed."""
    _migrate_audited(pg_url)
    execute(pg_url, "CREATE SCHEMA scratch", "CREATE TABLE scratch.tmp (id INTEGER)")

    assert _found(_check(audited_target(pg_url))) == []
    named = audited_target(pg_url, schemas=("public", "audit", "scratch"))
    assert _found(_check(named)) == [("scratch", "tmp", FindingKind.EXTRA_TABLE, None)]


def test_schemas_setting_narrows_the_comparison(pg_url: URL) -> None:
    """schemas=["public"] leaves the audit schema, and its drift, out of the comparison."""
    _migrate_audited(pg_url)
    execute(pg_url, "DROP TABLE audit.events")

    assert _found(_check(audited_target(pg_url))) == [
        ("audit", "events", FindingKind.MISSING_TABLE, None)
    ]
    assert _found(_check(audited_target(pg_url, schemas=("public",)))) == []


def test_version_table_in_a_watched_schema_is_not_an_extra_table(pg_url: URL) -> None:
    """alembic_version kept in the audit schema is the version table, not drift."""
    execute(pg_url, "CREATE SCHEMA audit")
    _migrate_audited(pg_url, version_table_schema="audit")

    report = _check(audited_target(pg_url, version_table_schema="audit"))

    assert _found(report) == []
    assert report.revision is not None and report.revision.kind is RevisionStateKind.AT_HEAD


def test_qualified_patterns_select_by_schema(pg_url: URL) -> None:
    """An exclude pattern may name schema.table; it then leaves other schemas alone."""
    _migrate_audited(pg_url)
    execute(
        pg_url,
        "CREATE TABLE audit.logins (id INTEGER PRIMARY KEY)",
        "CREATE TABLE logins (id INTEGER PRIMARY KEY)",
    )

    assert _found(_check(audited_target(pg_url, exclude_tables=("audit.*",)))) == [
        ("public", "logins", FindingKind.EXTRA_TABLE, None)
    ]


# --- include / exclude ----------------------------------------------------------------


def test_excluded_tables_are_not_reported(any_url: URL) -> None:
    """An extra table matching an exclude pattern, and a dropped excluded model table, vanish."""
    migrate(any_url, "head")
    execute(
        any_url,
        "CREATE TABLE tmp_import_1 (id INTEGER PRIMARY KEY)",
        "CREATE TABLE coupons (id INTEGER PRIMARY KEY)",
        "DROP TABLE orders",
    )

    everything = _found(_check(shop_target(any_url)))
    assert [(t, k) for _, t, k, _ in everything] == [
        ("coupons", FindingKind.EXTRA_TABLE),
        ("orders", FindingKind.MISSING_TABLE),
        ("tmp_import_1", FindingKind.EXTRA_TABLE),
    ]

    filtered = _found(_check(shop_target(any_url, exclude_tables=("tmp_*", "orders"))))
    assert [(t, k) for _, t, k, _ in filtered] == [("coupons", FindingKind.EXTRA_TABLE)]


def test_include_patterns_keep_only_matching_tables(any_url: URL) -> None:
    """With include patterns, only matching tables (live or modelled) are compared."""
    migrate(any_url, "head")
    execute(
        any_url,
        "CREATE TABLE coupons (id INTEGER PRIMARY KEY)",
        "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)",
        "ALTER TABLE orders ADD COLUMN coupon_id INTEGER",
    )

    found = _found(_check(shop_target(any_url, include_tables=("users",))))

    assert [(t, k, n) for _, t, k, n in found] == [("users", FindingKind.EXTRA_COLUMN, "nickname")]


def test_exclude_wins_over_include(sqlite_url: URL) -> None:
    """A table both included and excluded is excluded."""
    migrate(sqlite_url, "head")
    execute(sqlite_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")

    target = shop_target(sqlite_url, include_tables=("users", "orders"), exclude_tables=("users",))

    assert _found(_check(target)) == []


# --- an excluded table costs nothing ----------------------------------------------------

SECRET_TABLE = "zz_private_ledger"


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine in this process sends, with its parameters."""
    seen: list[str] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        seen.append(f"{statement} {parameters!r}")

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@pytest.mark.parametrize("comparison", ["snapshot", "alembic"])
@pytest.mark.parametrize("excluded", [True, False], ids=["excluded", "included"])
def test_excluded_table_is_never_named_in_a_statement(
    any_url: URL, statements: list[str], excluded: bool, comparison: str
) -> None:
    """No statement of the check names an excluded table. alembic reflects an included one
    by name; the PostgreSQL snapshot reads whole catalogs by oid and names no table at all."""
    migrate(any_url, "head")
    execute(any_url, f"CREATE TABLE {SECRET_TABLE} (id INTEGER PRIMARY KEY, amount INTEGER)")
    statements.clear()

    fields = {"exclude_tables": ("zz_*",)} if excluded else {}
    report = _check(shop_target(any_url, **fields, **comparing(comparison, any_url)))

    naming = [s for s in statements if SECRET_TABLE in s]
    if excluded:
        assert naming == []
        assert _found(report) == []
    else:
        if comparison == "alembic":
            assert naming, "the control case must reflect the table"
        elif any_url.get_backend_name() == "postgresql":  # MySQL's reader lists the tables
            assert naming == []
        assert [k for _, _, k, _ in _found(report)] == [FindingKind.EXTRA_TABLE]
    assert statements, "the listener saw the check's statements"


UNREFLECTABLE = {
    # types SQLAlchemy cannot map: reflecting the table warns "Did not recognize type"
    "postgresql": (
        "CREATE TYPE money_pair AS (amount NUMERIC, currency TEXT)",
        f"CREATE TABLE {SECRET_TABLE} (id INTEGER PRIMARY KEY, value money_pair)",
    ),
    "mysql": (f"CREATE TABLE {SECRET_TABLE} (id INTEGER PRIMARY KEY, address INET6)",),
}


@pytest.mark.parametrize("comparison", ["snapshot", "alembic"])
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_unreflectable_excluded_table_is_not_touched(
    dialect: str, comparison: str, request: pytest.FixtureRequest
) -> None:
    """A table whose reflection warns is left alone when excluded; included, alembic's
    reflection warns, and the snapshot reads it like any other (no SQLAlchemy type needed)."""
    url: URL = request.getfixturevalue({"postgresql": "pg_url", "mysql": "mysql_url"}[dialect])
    migrate(url, "head")
    execute(url, *UNREFLECTABLE[dialect])
    how = comparing(comparison, url)

    # pytest turns warnings into errors here: reflecting the table would fail the check
    assert _found(_check(shop_target(url, exclude_tables=(SECRET_TABLE,), **how))) == []

    if comparison == "alembic":
        with pytest.warns(SAWarning, match="Did not recognize type"):
            included = _check(shop_target(url, **how))
    else:
        included = _check(shop_target(url, **how))
    assert [(t, k) for _, t, k, _ in _found(included)] == [(SECRET_TABLE, FindingKind.EXTRA_TABLE)]


def test_excluded_table_locked_by_a_migration_does_not_hold_the_check(pg_url: URL) -> None:
    """An excluded table under ACCESS EXCLUSIVE lock is not waited for; an included one is."""
    migrate(pg_url, "head")
    # a column default makes reflection read it with pg_get_expr, which needs ACCESS SHARE
    execute(pg_url, f"CREATE TABLE {SECRET_TABLE} (id SERIAL PRIMARY KEY, note TEXT DEFAULT 'x')")

    async def check_while_locked(target: Target) -> TargetReport:
        holder = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            async with holder.transaction():
                await holder.execute(f"LOCK TABLE {SECRET_TABLE} IN ACCESS EXCLUSIVE MODE")
                return await check_target(target)
        finally:
            await holder.close()

    quick = {"lock_timeout_seconds": 1.0, "check_timeout_seconds": 120}
    excluded = asyncio.run(
        check_while_locked(shop_target(pg_url, exclude_tables=(SECRET_TABLE,), **quick))
    )
    assert excluded.error is None, excluded.error
    assert _found(excluded) == []

    included = asyncio.run(check_while_locked(shop_target(pg_url, **quick)))
    assert included.error is not None and "lock timeout" in included.error
