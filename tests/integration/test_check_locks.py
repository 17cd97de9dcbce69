"""A check never holds a lock past the statement that took it (PostgreSQL)."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from tests.support.scenarios import migrate, shop_target


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def test_a_waiting_check_holds_no_lock_on_what_it_already_read(pg_url: URL) -> None:
    """While a check waits on a table a migration holds, the version table it read earlier is
    free: a migration can take it at once (NOWAIT), so DDL never queues behind a comparison."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, lock_timeout_seconds=20, compare_server_default=True)

    async def scenario() -> tuple[bool, str | None]:
        migration = await asyncpg.connect(_dsn(pg_url))
        watcher = await asyncpg.connect(_dsn(pg_url))
        try:
            holding = migration.transaction()
            await holding.start()
            await migration.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            check = asyncio.create_task(check_target(target))
            for _ in range(200):
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'driftwatch' AND wait_event_type = 'Lock'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the check never waited on the locked table")
            second = watcher.transaction()
            await second.start()
            try:
                await watcher.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE NOWAIT")
                version_table_free = True
            except asyncpg.LockNotAvailableError:
                version_table_free = False
            await second.rollback()
            await holding.rollback()
            report = await check
            return version_table_free, report.error
        finally:
            await migration.close()
            await watcher.close()

    version_table_free, error = asyncio.run(scenario())
    assert version_table_free
    assert error is None
