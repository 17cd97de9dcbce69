"""A user that may not see what the target watches gets an error (exit 2), not a report of
every table as missing; a properly privileged read-only user checks as before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.findings import FindingKind
from driftwatch.report import ExitCode, Report, TargetReport
from tests.integration.test_check_sessions import mysql_admin, pg_admin
from tests.support.scenarios import (
    AUDITED,
    alembic_config,
    audited_target,
    execute,
    migrate,
    shop_target,
)

Grant = Callable[..., URL]


def _check(target: Target) -> TargetReport:
    return asyncio.run(check_target(target))


def _exit_code(report: TargetReport) -> ExitCode:
    return Report(targets=(report,), generated_at=report.started_at).exit_code()


# --- MariaDB / MySQL ------------------------------------------------------------------


@pytest.fixture
def mysql_grant(mysql_url: URL) -> Iterator[Grant]:
    """Make a user of the test's own holding exactly the given grants; dropped afterwards."""
    user = f"dw_pv_{str(mysql_url.database)[-12:]}"
    database = mysql_url.database

    async def run(*statements: str) -> None:
        async with mysql_admin(mysql_url) as admin, admin.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)

    def grant(*privileges: str) -> URL:
        asyncio.run(
            run(
                f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'",
                *(f"GRANT {p.format(db=database)} TO '{user}'@'%'" for p in privileges),
            )
        )
        return mysql_url.set(username=user, password="pw")

    try:
        yield grant
    finally:
        asyncio.run(run(f"DROP USER IF EXISTS '{user}'@'%'"))


def test_mysql_user_seeing_only_the_version_table_cannot_check(
    mysql_url: URL, mysql_grant: Grant
) -> None:
    """SELECT on the version table alone: an error naming the schema and the privilege to
    grant, exit 2, instead of every table reported missing."""
    migrate(mysql_url, "head")
    url = mysql_grant("SELECT ON {db}.alembic_version")

    report = _check(shop_target(url))

    assert report.error is not None
    assert f"cannot read schema '{mysql_url.database}'" in report.error
    assert "SELECT command denied" in report.error
    assert f"GRANT SELECT ON `{mysql_url.database}`.* TO this user" in report.error
    assert report.schema is None
    assert _exit_code(report) is ExitCode.ERROR


def test_mysql_table_without_a_grant_is_an_error(mysql_url: URL, mysql_grant: Grant) -> None:
    """Table-level grants that leave one model table out: an error naming that table."""
    migrate(mysql_url, "head")
    url = mysql_grant("SELECT ON {db}.alembic_version", "SELECT ON {db}.users")

    report = _check(shop_target(url))

    assert report.error is not None
    assert f"`{mysql_url.database}`.`orders`" in report.error, report.error
    assert _exit_code(report) is ExitCode.ERROR


def test_mysql_column_grants_only_are_an_error(mysql_url: URL, mysql_grant: Grant) -> None:
    """Column grants on a model table (some columns hidden): an error naming the table."""
    migrate(mysql_url, "head")
    url = mysql_grant(
        "SELECT ON {db}.alembic_version",
        "SELECT ON {db}.users",
        "SELECT (id, user_id, total, status) ON {db}.orders",
    )

    report = _check(shop_target(url))

    assert report.error is not None
    assert f"`{mysql_url.database}`.`orders`" in report.error, report.error
    assert _exit_code(report) is ExitCode.ERROR


def test_mysql_version_table_without_a_grant_is_an_error(
    mysql_url: URL, mysql_grant: Grant
) -> None:
    """A version table the user may not read is an error naming it, not "no version table"
    (SQLAlchemy's has_table on MySQL asks DESCRIBE, which the server refuses)."""
    migrate(mysql_url, "head")
    url = mysql_grant("SELECT ON {db}.users", "SELECT ON {db}.orders")

    report = _check(shop_target(url))

    assert report.error is not None
    assert f"`{mysql_url.database}`.`alembic_version`" in report.error, report.error
    assert _exit_code(report) is ExitCode.ERROR


@pytest.mark.parametrize(
    "privileges",
    [
        ("SELECT ON {db}.*",),
        ("SELECT ON {db}.alembic_version", "SELECT ON {db}.users", "SELECT ON {db}.orders"),
    ],
    ids=["database_grant", "table_grants"],
)
def test_mysql_read_only_user_checks_and_still_sees_a_dropped_table(
    mysql_url: URL, mysql_grant: Grant, privileges: tuple[str, ...]
) -> None:
    """SELECT on the database, or on each table: in sync at head (no false error, CHECK
    constraints included), and a table dropped out of band is still reported as missing."""
    migrate(mysql_url, "head")
    url = mysql_grant(*privileges)

    in_sync = _check(shop_target(url))
    execute(mysql_url, "DROP TABLE orders")
    dropped = _check(shop_target(url))

    assert in_sync.error is None, in_sync.error
    assert in_sync.status().value == "in_sync"
    assert dropped.error is None, dropped.error
    assert dropped.schema is not None
    assert [(f.kind, f.table) for f in dropped.schema.findings] == [
        (FindingKind.MISSING_TABLE, "orders")
    ]


# --- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture
def pg_grant(pg_url: URL) -> Iterator[Grant]:
    """Make a login role of the test's own holding exactly the given grants; dropped after
    its database."""
    role = f"dw_pv_{pg_url.database}"

    async def run(*statements: str) -> None:
        async with pg_admin(pg_url) as admin:
            for statement in statements:
                await admin.execute(statement)

    def grant(*privileges: str) -> URL:
        asyncio.run(run(f"CREATE ROLE {role} LOGIN", *(f"GRANT {p} TO {role}" for p in privileges)))
        return pg_url.set(username=role)

    async def drop() -> None:
        async with pg_admin(pg_url, database="postgres") as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {pg_url.database} WITH (FORCE)")
            await admin.execute(f"DROP ROLE IF EXISTS {role}")

    try:
        yield grant
    finally:
        asyncio.run(drop())


def test_postgres_role_without_usage_on_a_watched_schema_cannot_check(
    pg_url: URL, pg_grant: Grant
) -> None:
    """A role without USAGE on a watched schema: an error naming the schema and the grant."""
    migrate(pg_url, "head", config=alembic_config(AUDITED))
    url = pg_grant("SELECT ON alembic_version")

    report = _check(audited_target(url))

    assert report.error is not None
    assert f"role '{url.username}' lacks USAGE on schema 'audit'" in report.error
    assert f"GRANT USAGE ON SCHEMA audit TO {url.username}" in report.error
    assert _exit_code(report) is ExitCode.ERROR


def test_postgres_role_with_usage_checks_fine(pg_url: URL, pg_grant: Grant) -> None:
    """USAGE on the watched schemas and SELECT on the version table suffice: in sync."""
    migrate(pg_url, "head", config=alembic_config(AUDITED))
    url = pg_grant("SELECT ON alembic_version", "USAGE ON SCHEMA audit")

    report = _check(audited_target(url, compare_server_default=True))

    assert report.error is None, report.error
    assert report.status().value == "in_sync"


def test_mysql_table_grants_still_see_a_dropped_check(mysql_url: URL, mysql_grant: Grant) -> None:
    """With grants on single tables (information_schema then shows no constraint), CHECK
    constraints are read from each table's DDL: a dropped one is reported, once."""
    migrate(mysql_url, "head")
    url = mysql_grant(
        "SELECT ON {db}.alembic_version", "SELECT ON {db}.users", "SELECT ON {db}.orders"
    )
    execute(mysql_url, "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative")

    report = _check(shop_target(url))

    assert report.error is None, report.error
    assert report.schema is not None
    assert [(f.kind, f.table, f.name) for f in report.schema.findings] == [
        (FindingKind.MISSING_CHECK, "orders", "ck_orders_total_not_negative")
    ]
