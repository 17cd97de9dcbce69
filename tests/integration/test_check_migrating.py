"""What a check concludes when a migration runs beside it: the version table's rows moving
during the check (every dialect), and on PostgreSQL what is *not* a migration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from driftwatch.check import OVERDUE_NOTE, check_target
from driftwatch.findings import FindingKind
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


@asynccontextmanager
async def _reader(
    url: URL, statements: tuple[str, ...], *, before: tuple[str, ...] = ()
) -> AsyncIterator[asyncpg.Connection]:
    """A session that has run `before` (each committed), then read the version table in a
    transaction still open and run `statements` in it; rolled back on leaving."""
    reader = await asyncpg.connect(plain_url(url.set(drivername="postgresql")))
    try:
        for statement in before:
            await reader.execute(statement)
        reading = reader.transaction()
        await reading.start()
        await reader.fetch("SELECT version_num FROM alembic_version")
        for statement in statements:
            await reader.execute(statement)
        try:
            yield reader
        finally:
            await reading.rollback()
    finally:
        await reader.close()


async def _execute(url: URL, *statements: str) -> None:
    conn = await asyncpg.connect(plain_url(url.set(drivername="postgresql")))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statements", "kind"),
    [
        # DDL on what the target does not watch, or on what lasts no longer than the session
        (("CREATE TEMP TABLE scratch_rows (id int)",), RevisionStateKind.AT_HEAD),
        (("TRUNCATE kept_rows",), RevisionStateKind.AT_HEAD),  # a temporary table, committed
        (("ALTER TABLE elsewhere.notes ADD COLUMN seen int",), RevisionStateKind.AT_HEAD),
        (("TRUNCATE elsewhere.notes",), RevisionStateKind.AT_HEAD),
        (("CREATE INDEX ON elsewhere.notes (id)",), RevisionStateKind.AT_HEAD),
        # a lock weaker than ALTER TABLE's, on a watched table
        (("CREATE INDEX ON orders (id)",), RevisionStateKind.AT_HEAD),
        # what a migration's first step does, before its version row is written
        (("ALTER TABLE orders ADD COLUMN seen int",), RevisionStateKind.MIGRATING),
        (("TRUNCATE orders",), RevisionStateKind.MIGRATING),  # a migration may: not told apart
        # the version row written
        (("UPDATE alembic_version SET version_num = version_num",), RevisionStateKind.MIGRATING),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else str(value),
)
def test_what_a_session_that_read_the_version_table_does_next(
    pg_url: URL, statements: tuple[str, ...], kind: RevisionStateKind
) -> None:
    """Only a write of the version table, or ALTER TABLE's lock on a lasting relation of a
    watched schema, by a session that read the version table is a migration: not temporary
    tables, not other schemas' tables, not CREATE INDEX."""
    migrate(pg_url, "head")
    asyncio.run(
        _execute(pg_url, "CREATE SCHEMA elsewhere", "CREATE TABLE elsewhere.notes (id int)")
    )
    target = shop_target(pg_url, scratch_url=pg_url)

    async def scenario() -> TargetReport:
        before = ("CREATE TEMP TABLE kept_rows (id int)",)
        async with _reader(pg_url, statements, before=before) as reader:
            locked = await reader.fetchval(
                "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND locktype = 'relation' AND mode NOT IN ('AccessShareLock', 'RowShareLock')"
            )
            assert locked  # the session did more than read
            return await check_target(target)

    report = asyncio.run(scenario())
    assert report.error is None, report.error
    assert report.revision is not None and report.revision.kind is kind
    assert report.schema is not None
    assert report.schema.compared is (kind is RevisionStateKind.AT_HEAD)


_STUCK = ("UPDATE alembic_version SET version_num = version_num",)  # and stands still


@pytest.mark.postgres
def test_a_migration_seen_for_longer_than_the_check_timeout_is_compared_anyway(
    pg_url: URL,
) -> None:
    """A migration that stands still (here a session that wrote the version row, then left
    its transaction open) keeps the target `migrating` only until `check_timeout_seconds`
    have passed since the first check that saw it: then the check compares, concludes the
    drift made meanwhile, and says for how long the migration has been seen; once it is
    gone, nothing of it is left."""
    migrate(pg_url, "head")
    asyncio.run(_execute(pg_url, "ALTER TABLE orders ADD COLUMN by_hand int"))  # drift
    target = shop_target(pg_url, scratch_url=pg_url)  # check_timeout_seconds: 300
    daemon = {"max_age_seconds": 3600.0}  # as `serve` checks: fingerprints, comparisons reused

    async def scenario() -> tuple[Any, ...]:
        async with _reader(pg_url, _STUCK):
            first = await check_target(target, **daemon)
            second = await check_target(target, previous=first, **daemon)
            # the same run of checks, as if the first had been ten minutes ago
            assert first.migrating_since is not None
            long_ago = first.migrating_since - timedelta(minutes=10)
            overdue = await check_target(
                target, previous=replace(second, migrating_since=long_ago), **daemon
            )
            again = await check_target(target, previous=overdue, **daemon)
        after = await check_target(target, previous=again, **daemon)
        return first, second, overdue, again, after, long_ago

    first, second, overdue, again, after, long_ago = asyncio.run(scenario())
    for report in (first, second):
        assert report.error is None, report.error
        assert report.migrating
        assert report.schema is not None and not report.schema.compared
        assert report.migrating_since == first.started_at
    # waited out no longer: compared, and the drift concluded
    assert overdue.error is None, overdue.error
    assert not overdue.migrating
    assert overdue.revision is not None and overdue.revision.kind is RevisionStateKind.AT_HEAD
    assert overdue.schema is not None and overdue.schema.compared
    assert [(f.kind, f.table, f.name) for f in overdue.schema.drift] == [
        (FindingKind.EXTRA_COLUMN, "orders", "by_hand")
    ]
    assert overdue.status() is Status.OUT_OF_SYNC
    assert overdue.schema.notes[0].startswith(f"{OVERDUE_NOTE} 10 minutes"), overdue.schema.notes
    assert overdue.migrating_since == long_ago  # the run of checks goes on
    # the next check reuses the comparison (nothing moved), with the note of its own time
    assert again.error is None, again.error
    assert not again.migrating and again.migrating_since == long_ago
    assert again.schema is not None and again.schema.drift == overdue.schema.drift
    assert [n for n in again.schema.notes if n.startswith(OVERDUE_NOTE)] == [again.schema.notes[0]]
    # the session gone: no migration, no note, the drift still there
    assert after.error is None, after.error
    assert after.migrating_since is None
    assert after.schema is not None and after.schema.drift == overdue.schema.drift
    assert not [n for n in after.schema.notes if n.startswith(OVERDUE_NOTE)]
    assert after.status() is Status.OUT_OF_SYNC


@pytest.mark.postgres
def test_an_overdue_migration_holding_a_watched_table_fails_the_check(pg_url: URL) -> None:
    """Past the bound, a session holding ALTER TABLE's lock on a watched table (a migration
    stuck in its DDL) stops the comparison reading that table: the check fails, saying why,
    instead of standing still in `migrating`; the failure carries nothing of the run."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, scratch_url=pg_url)
    daemon = {"max_age_seconds": 3600.0}

    async def scenario() -> tuple[TargetReport, TargetReport]:
        async with _reader(pg_url, ("ALTER TABLE orders ADD COLUMN stuck int",)):
            first = await check_target(target, **daemon)
            assert first.migrating_since is not None
            long_ago = first.migrating_since - timedelta(minutes=10)
            overdue = await check_target(
                target, previous=replace(first, migrating_since=long_ago), **daemon
            )
        return first, overdue

    first, overdue = asyncio.run(scenario())
    assert first.migrating
    assert overdue.error is not None and "lock_timeout_seconds" in overdue.error
