"""Each timeout of a target bounds what it is for, and the error names the one that fired
with its configured value."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomysql
import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.config.targets import Target, parse_url
from driftwatch.report import TargetReport
from tests.integration.test_check_sessions import mysql_admin, pg_admin
from tests.support.scenarios import migrate, shop_target
from tests.support.tcpproxy import SilentServer


def _check(target: Target) -> TargetReport:
    return asyncio.run(check_target(target))


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_server_that_never_answers_fails_on_the_connect_timeout(scheme: str) -> None:
    """Against a host that accepts TCP and never answers, the check gives up on
    connect_timeout_seconds (not check_timeout_seconds) and says so."""
    with SilentServer() as server:
        url = parse_url(f"{scheme}://app:secret@127.0.0.1:{server.port}/app", origin="test")
        target = shop_target(url, connect_timeout_seconds=1, check_timeout_seconds=60)

        started = time.monotonic()
        report = _check(target)
        waited = time.monotonic() - started

        assert server.accepted >= 1  # the TCP connection was made: the server is silent
    assert report.error is not None
    assert f"127.0.0.1:{server.port}" in report.error
    assert "within connect_timeout_seconds (1 s)" in report.error, report.error
    assert "check_timeout" not in report.error
    assert waited < 50  # far below the 60 s check timeout it used to wait for


async def _check_behind_pg_lock(url: URL, target: Target) -> TargetReport:
    async with pg_admin(url) as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        try:
            return await check_target(target)
        finally:
            await transaction.rollback()


def test_postgres_check_timeout_is_named(pg_url: URL) -> None:
    """A check cut by check_timeout says so, with the configured value."""
    migrate(pg_url, "head")
    target = shop_target(
        pg_url, lock_timeout_seconds=60, statement_timeout_seconds=60, check_timeout_seconds=0.5
    )

    report = asyncio.run(_check_behind_pg_lock(pg_url, target))

    assert report.error is not None
    assert "did not finish within check_timeout_seconds (0.5 s)" in report.error, report.error


def test_postgres_lock_timeout_is_named(pg_url: URL) -> None:
    """A query that waits on a lock longer than lock_timeout says so, with the value."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, lock_timeout_seconds=0.5, check_timeout_seconds=120)

    report = asyncio.run(_check_behind_pg_lock(pg_url, target))

    assert report.error is not None
    assert "waited longer than lock_timeout_seconds (0.5 s)" in report.error, report.error


def test_postgres_statement_timeout_is_named(pg_url: URL) -> None:
    """A query cut by statement_timeout says so, with the value (the lock timeout is longer)."""
    migrate(pg_url, "head")
    target = shop_target(
        pg_url, lock_timeout_seconds=60, statement_timeout_seconds=0.5, check_timeout_seconds=120
    )

    report = asyncio.run(_check_behind_pg_lock(pg_url, target))

    assert report.error is not None
    assert "ran longer than statement_timeout_seconds (0.5 s)" in report.error, report.error


@asynccontextmanager
async def _mysql_table_locked(url: URL) -> AsyncIterator[aiomysql.Connection]:
    async with mysql_admin(url) as holder, holder.cursor() as cursor:
        await cursor.execute("LOCK TABLES alembic_version WRITE")
        try:
            yield holder
        finally:
            await cursor.execute("UNLOCK TABLES")


def test_mysql_lock_timeout_is_named(mysql_url: URL) -> None:
    """On MariaDB a wait for a table lock longer than lock_timeout says so, with the value."""
    migrate(mysql_url, "head")
    target = shop_target(mysql_url, lock_timeout_seconds=1, check_timeout_seconds=120)

    async def scenario() -> TargetReport:
        async with _mysql_table_locked(mysql_url):
            return await check_target(target)

    report = asyncio.run(scenario())

    assert report.error is not None
    assert "waited longer than lock_timeout_seconds (1 s)" in report.error, report.error


def test_mysql_statement_timeout_is_named(mysql_url: URL) -> None:
    """On MariaDB a query cut by max_statement_time says statement_timeout_seconds."""
    migrate(mysql_url, "head")
    target = shop_target(
        mysql_url, lock_timeout_seconds=60, statement_timeout_seconds=0.5, check_timeout_seconds=120
    )

    async def scenario() -> TargetReport:
        async with _mysql_table_locked(mysql_url):
            return await check_target(target)

    report = asyncio.run(scenario())

    assert report.error is not None
    assert "ran longer than statement_timeout_seconds (0.5 s)" in report.error, report.error


def test_sqlite_lock_timeout_is_named(sqlite_url: URL) -> None:
    """A SQLite file locked longer than lock_timeout says so, with the value."""
    import sqlite3  # noqa: PLC0415

    migrate(sqlite_url, "head")
    holder = sqlite3.connect(str(sqlite_url.database), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        report = _check(shop_target(sqlite_url, lock_timeout_seconds=0.3))
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert report.error is not None
    assert "locked longer than lock_timeout_seconds (0.3 s)" in report.error, report.error
