"""What a check concludes when a migration runs beside it: the version table's rows moving
during the check (every dialect), and on PostgreSQL what is *not* a migration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.live.observe import make_engine
from driftwatch.report import Status, TargetReport
from driftwatch.revisions import RevisionStateKind
from tests.support.scenarios import migrate, plain_url, shop_target
from tests.support.slow_migration import slow_project, upgrade


@pytest.fixture(params=["sqlite", "mysql"])
def url(request: pytest.FixtureRequest) -> URL:
    """A database of its own on SQLite, then on MySQL/MariaDB (where DDL is not
    transactional and the version table's rows are the only sign of a migration)."""
    found: URL = request.getfixturevalue(f"{request.param}_url")
    return found


def _target(url: URL, scripts: Path) -> Any:
    scratch = {"scratch_url": url} if url.get_backend_name() == "mysql" else {}
    return shop_target(url, script_location=str(scripts), **scratch)


def _check_upgraded_midway(url: URL, root: Path, scripts: Path) -> tuple[TargetReport, bool]:
    """A check during which `alembic upgrade head` runs to the end: started right after the
    check read the version table, finished before its next statement. Returns the report and
    whether the upgrade ran."""
    target = _target(url, scripts)
    seen_version_read = ran = False

    def after_the_version_read(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal ran
        if not ran and "version_num" not in statement and seen_version_read:
            ran = True
            upgrade(url, root)  # another process; this connection holds no lock meanwhile

    def version_read(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal seen_version_read
        seen_version_read = seen_version_read or "version_num" in statement

    async def run() -> TargetReport:
        engine = make_engine(target)
        event.listen(engine.sync_engine, "before_cursor_execute", after_the_version_read)
        event.listen(engine.sync_engine, "after_cursor_execute", version_read)
        try:
            return await check_target(target, engine=engine)
        finally:
            await engine.dispose()

    return asyncio.run(run()), ran


def test_version_rows_moving_during_the_check_is_migrating(url: URL, tmp_path: Path) -> None:
    """A migration committed between the check's first and last read of the version table
    makes it `migrating`: its schema, read half before and half after, is not compared, and
    the check after it finds the database at head and in sync."""
    migrate(url, "head")  # c3
    root = tmp_path / "project"
    scripts = slow_project(root)

    report, ran = _check_upgraded_midway(url, root, scripts)

    assert ran
    assert report.error is None, report.error
    assert report.revision is not None
    assert report.revision.kind is RevisionStateKind.MIGRATING
    assert report.revision.database_heads == ("e5",)  # the last read
    assert report.schema is not None and not report.schema.compared
    assert "a migration is running" in str(report.schema.skipped_reason)
    assert report.fingerprint is None
    assert report.status() is Status.OUT_OF_SYNC

    after = asyncio.run(check_target(_target(url, scripts)))
    assert after.error is None, after.error
    assert after.revision is not None and after.revision.kind is RevisionStateKind.AT_HEAD
    assert after.schema is not None and after.schema.compared and after.schema.findings == ()
    assert after.status() is Status.IN_SYNC


def test_a_still_version_table_is_no_migration(url: URL, tmp_path: Path) -> None:
    """The same check with nothing running beside it: behind, compared (the hook above is
    what makes the difference)."""
    migrate(url, "head")
    scripts = slow_project(tmp_path / "project")

    report = asyncio.run(check_target(_target(url, scripts)))

    assert report.error is None, report.error
    assert report.revision is not None and report.revision.kind is RevisionStateKind.BEHIND
    assert report.schema is not None and report.schema.compared


@pytest.mark.postgres
def test_a_session_reading_the_version_table_is_no_migration(pg_url: URL) -> None:
    """An application (or another driftwatch) inside a transaction that read the version
    table holds a lock on it, but writes nothing and runs no DDL: at head, compared."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, scratch_url=pg_url)

    async def scenario() -> TargetReport:
        reader = await asyncpg.connect(plain_url(pg_url.set(drivername="postgresql")))
        try:
            reading = reader.transaction()
            await reading.start()
            await reader.fetch("SELECT version_num FROM alembic_version")
            held = await reader.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND relation = 'alembic_version'::regclass"
            )
            assert held == 1
            report = await check_target(target)
            await reading.rollback()
            return report
        finally:
            await reader.close()

    report = asyncio.run(scenario())
    assert report.error is None, report.error
    assert report.revision is not None and report.revision.kind is RevisionStateKind.AT_HEAD
    assert report.schema is not None and report.schema.compared
