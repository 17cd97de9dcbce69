"""Several targets in one run: checked concurrently, each reported, the worst status wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg
import pytest
from sqlalchemy.engine import URL

from driftwatch.check import check_targets
from driftwatch.config.targets import Target
from driftwatch.report import Category, ExitCode, Report, Status
from tests.support.scenarios import (
    SHOP_BRANCHES,
    SHOP_VERSIONS,
    branched_config,
    execute,
    migrate,
    shop_target,
)
from tests.support.servers import (
    Server,
    asyncpg_dsn,
    create_database,
    drop_database,
    new_database_name,
)


@asynccontextmanager
async def version_table_locked(url: URL) -> AsyncIterator[None]:
    """Hold ACCESS EXCLUSIVE on alembic_version so that a check waits on reading it."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def _waiting_checks(admin: asyncpg.Connection, databases: list[str]) -> set[str]:
    rows = await admin.fetch(
        "SELECT datname FROM pg_stat_activity WHERE application_name = 'driftwatch' "
        "AND wait_event_type = 'Lock' AND datname = ANY($1::text[])",
        databases,
    )
    return {row["datname"] for row in rows}


@pytest.fixture
def second_pg_url(pg_server: Server | str, pg_url: URL) -> Iterator[URL]:
    """Another empty PostgreSQL database on the same server."""
    assert not isinstance(pg_server, str)
    name = new_database_name()
    url = create_database(pg_server, name)
    yield url
    drop_database(pg_server, name)


def test_targets_are_checked_at_the_same_time(pg_url: URL, second_pg_url: URL) -> None:
    """With concurrency 2, both targets' checks are waiting inside the databases at once."""
    urls = [pg_url, second_pg_url]
    for url in urls:
        migrate(url, "head")
    targets = [
        shop_target(url, name=f"shop{i}", lock_timeout_seconds=60, check_timeout_seconds=60)
        for i, url in enumerate(urls)
    ]
    databases = [str(url.database) for url in urls]

    async def scenario() -> tuple[set[str], Report]:
        admin = await asyncpg.connect(asyncpg_dsn(pg_url, "postgres"))
        try:
            async with AsyncExitStack() as locks:
                for url in urls:
                    await locks.enter_async_context(version_table_locked(url))
                run = asyncio.create_task(check_targets(targets, concurrency=2))
                waiting: set[str] = set()
                for _ in range(200):
                    waiting = await _waiting_checks(admin, databases)
                    if len(waiting) == 2 or run.done():
                        break
                    await asyncio.sleep(0.05)
            return waiting, await run
        finally:
            await admin.close()

    waiting, report = asyncio.run(scenario())

    assert waiting == set(databases)
    assert [t.target for t in report.targets] == ["shop0", "shop1"]
    assert report.status() is Status.IN_SYNC


def test_concurrency_one_checks_one_target_at_a_time(pg_url: URL, second_pg_url: URL) -> None:
    """With concurrency 1, the second target is not started while the first one waits."""
    urls = [pg_url, second_pg_url]
    for url in urls:
        migrate(url, "head")
    targets = [
        shop_target(url, name=f"shop{i}", lock_timeout_seconds=60, check_timeout_seconds=60)
        for i, url in enumerate(urls)
    ]
    databases = [str(url.database) for url in urls]

    async def scenario() -> list[set[str]]:
        admin = await asyncpg.connect(asyncpg_dsn(pg_url, "postgres"))
        seen: list[set[str]] = []
        try:
            async with AsyncExitStack() as locks:
                for url in urls:
                    await locks.enter_async_context(version_table_locked(url))
                run = asyncio.create_task(check_targets(targets, concurrency=1))
                # wait until one check is stuck on its lock, then look for the other a while:
                # a semaphore that let both in would show both within these rounds
                for _ in range(200):
                    waiting = await _waiting_checks(admin, databases)
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                for _ in range(20):
                    seen.append(await _waiting_checks(admin, databases))
                    await asyncio.sleep(0.05)
            await run
            return seen
        finally:
            await admin.close()

    seen = asyncio.run(scenario())

    assert all(len(waiting) == 1 for waiting in seen), seen


def _run(targets: list[Target], fail_on: frozenset[Category] | None = None) -> Report:
    if fail_on is None:
        return asyncio.run(check_targets(targets))
    return asyncio.run(check_targets(targets, fail_on=fail_on))


def test_each_target_is_reported_and_the_worst_status_wins(
    pg_url: URL, mysql_url: URL, sqlite_url: URL
) -> None:
    """One run over three dialects reports each target; in sync + drift + unreachable is 2."""
    migrate(pg_url, "head")
    migrate(mysql_url, "head")
    migrate(sqlite_url, "head")
    execute(mysql_url, "ALTER TABLE users ADD COLUMN nickname VARCHAR(40)")
    in_sync = shop_target(pg_url, name="pg")
    drifted = shop_target(mysql_url, name="maria")
    down = shop_target(sqlite_url.set(database=f"{sqlite_url.database}.missing"), name="gone")

    report = _run([in_sync, drifted, down])

    statuses = {t.target: t.status(report.fail_on) for t in report.targets}
    assert statuses == {"pg": Status.IN_SYNC, "maria": Status.OUT_OF_SYNC, "gone": Status.ERROR}
    assert report.exit_code() is ExitCode.ERROR
    assert _run([in_sync, drifted]).exit_code() is ExitCode.OUT_OF_SYNC
    assert _run([in_sync, shop_target(sqlite_url, name="lite")]).exit_code() is ExitCode.IN_SYNC


def test_fail_on_chooses_what_counts(sqlite_url: URL) -> None:
    """--fail-on revision ignores schema drift, --fail-on schema ignores revision state."""
    migrate(sqlite_url, "head")
    execute(sqlite_url, "CREATE TABLE coupons (id INTEGER PRIMARY KEY)")
    schema_drift = shop_target(sqlite_url, name="schema_drift")
    assert _run([schema_drift]).exit_code() is ExitCode.OUT_OF_SYNC
    assert _run([schema_drift], frozenset({Category.REVISION})).exit_code() is ExitCode.IN_SYNC
    assert _run([schema_drift], frozenset({Category.SCHEMA})).exit_code() is ExitCode.OUT_OF_SYNC

    execute(sqlite_url, "DROP TABLE coupons")
    migrate(sqlite_url, "d4left", config=branched_config())
    revision_only = shop_target(
        sqlite_url,
        name="revision_only",
        version_locations=(str(SHOP_VERSIONS), str(SHOP_BRANCHES)),
    )
    report = _run([revision_only])
    assert report.targets[0].schema is not None and report.targets[0].schema.findings == ()
    assert report.exit_code() is ExitCode.OUT_OF_SYNC
    assert _run([revision_only], frozenset({Category.SCHEMA})).exit_code() is ExitCode.IN_SYNC
    assert _run([revision_only], frozenset({Category.REVISION})).exit_code() is (
        ExitCode.OUT_OF_SYNC
    )


def test_no_version_table_is_an_error_that_fail_on_error_counts(sqlite_url: URL) -> None:
    """A database with no version table could not be checked: its target's status is error
    whatever --fail-on says, and the exit code is 2 while `error` is in --fail-on (as by
    default); a --fail-on without it leaves the target out of the exit code."""
    execute(sqlite_url, "CREATE TABLE unrelated (id INTEGER PRIMARY KEY)")
    target = shop_target(sqlite_url)

    assert _run([target]).exit_code() is ExitCode.ERROR
    assert _run([target], frozenset({Category.SCHEMA, Category.ERROR})).exit_code() is (
        ExitCode.ERROR
    )
    schema_only = _run([target], frozenset({Category.SCHEMA}))
    assert schema_only.targets[0].status(schema_only.fail_on) is Status.ERROR
    assert [p for p in schema_only.problems() if "no alembic version table" in p]
    assert schema_only.exit_code() is ExitCode.IN_SYNC
