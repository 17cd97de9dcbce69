"""driftwatch's sessions: read-only, bounded by timeouts, closed after the check, and silent
about passwords."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from driftwatch.check import check_target
from driftwatch.config.settings import Settings, TargetSettings
from driftwatch.config.targets import Target, build_targets
from driftwatch.live.observe import make_engine
from driftwatch.render.document import render_json
from driftwatch.render.text import render_text
from driftwatch.report import Report, TargetReport
from driftwatch.revisions import RevisionStateKind
from tests.support.scenarios import SHOP, execute, migrate, plain_url, query, shop_target
from tests.support.servers import asyncpg_dsn


def _check(target: Target) -> TargetReport:
    return asyncio.run(check_target(target))


async def _read(target: Target, statement: str) -> tuple[Any, ...]:
    engine = make_engine(target)
    try:
        async with engine.connect() as conn:
            return tuple((await conn.execute(text(statement))).one())
    finally:
        await engine.dispose()


async def _write(target: Target, statement: str) -> None:
    engine = make_engine(target)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
            await conn.commit()
    finally:
        await engine.dispose()


@asynccontextmanager
async def pg_admin(url: URL, database: str | None = None) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection of the test's own (superuser), not driftwatch's."""
    conn = await asyncpg.connect(asyncpg_dsn(url.set(username="postgres", password=None), database))
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def mysql_admin(url: URL) -> AsyncIterator[aiomysql.Connection]:
    conn = await aiomysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user="root",
        db=url.database,
        autocommit=True,
    )
    try:
        yield conn
    finally:
        conn.close()


# --- PostgreSQL -------------------------------------------------------------------------


def test_postgres_session_is_read_only_with_timeouts(pg_url: URL) -> None:
    """Every driftwatch session on PostgreSQL starts read-only with the target's timeouts."""
    target = shop_target(pg_url, statement_timeout_seconds=7, lock_timeout_seconds=3)

    row = asyncio.run(
        _read(
            target,
            "SELECT current_setting('default_transaction_read_only'), "
            "current_setting('transaction_read_only'), current_setting('statement_timeout'), "
            "current_setting('lock_timeout'), current_setting('application_name')",
        )
    )

    assert row == ("on", "on", "7s", "3s", "driftwatch")


def test_postgres_session_refuses_writes(pg_url: URL) -> None:
    """A write through driftwatch's engine fails, and nothing is created."""
    with pytest.raises(DBAPIError, match="read-only transaction"):
        asyncio.run(_write(shop_target(pg_url), "CREATE TABLE written (id INTEGER)"))

    assert query(pg_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'written'") == [(0,)]


def test_postgres_statement_timeout_stops_a_slow_query(pg_url: URL) -> None:
    """A query longer than statement_timeout is cancelled by the server."""
    target = shop_target(pg_url, statement_timeout_seconds=0.2)

    with pytest.raises(DBAPIError, match="statement timeout"):
        asyncio.run(_read(target, "SELECT pg_sleep(30)"))


def test_postgres_url_written_for_psycopg_works(pg_url: URL) -> None:
    """A libpq-style URL (sslmode, connect_timeout, application_name) checks fine via asyncpg,
    and the session still names itself driftwatch."""
    migrate(pg_url, "head")
    raw = plain_url(pg_url.set(drivername="postgresql")) + (
        "?sslmode=disable&connect_timeout=4&application_name=theapp"
    )
    configured = TargetSettings(
        name="default", url=SecretStr(raw), script_location=str(SHOP / "migrations")
    )
    (target,) = build_targets(Settings.model_construct(targets=[configured]))

    report = _check(target)

    assert report.error is None, report.error
    assert asyncio.run(_read(target, "SELECT current_setting('application_name')")) == (
        "driftwatch",
    )


async def _check_while_locked(url: URL, target: Target, lock: str) -> TargetReport:
    async with pg_admin(url) as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(lock)
        try:
            return await check_target(target)
        finally:
            await transaction.rollback()


def test_postgres_lock_timeout_ends_a_blocked_check(pg_url: URL) -> None:
    """A check blocked by a lock on the version table gives up after lock_timeout, not later."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, lock_timeout_seconds=0.5, check_timeout_seconds=120)

    report = asyncio.run(
        _check_while_locked(pg_url, target, "LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
    )

    assert report.error is not None
    assert "lock timeout" in report.error


def test_postgres_check_behind_a_migration_in_progress_gives_up(pg_url: URL) -> None:
    """An uncommitted ALTER TABLE on a model table makes the check wait at most lock_timeout."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, lock_timeout_seconds=0.5, check_timeout_seconds=120)

    report = asyncio.run(
        _check_while_locked(pg_url, target, "ALTER TABLE users ADD COLUMN migrating INTEGER")
    )

    # reading a column default (pg_get_expr) takes ACCESS SHARE on the table
    assert report.error is not None
    assert "lock timeout" in report.error


def test_postgres_check_timeout_ends_the_check(pg_url: URL) -> None:
    """check_timeout bounds the whole check even when the lock timeout is long."""
    migrate(pg_url, "head")
    target = shop_target(pg_url, lock_timeout_seconds=60, check_timeout_seconds=0.5)

    report = asyncio.run(
        _check_while_locked(pg_url, target, "LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
    )

    assert report.error is not None
    assert "within check_timeout_seconds (0.5 s)" in report.error


async def _driftwatch_backends(url: URL) -> list[str]:
    """driftwatch's sessions on this test's database, waiting briefly for closes to land."""
    async with pg_admin(url, database="postgres") as admin:
        for _ in range(50):
            rows = await admin.fetch(
                "SELECT state FROM pg_stat_activity "
                "WHERE application_name = 'driftwatch' AND datname = $1",
                url.database,
            )
            if not rows:
                return []
            await asyncio.sleep(0.1)
        return [row["state"] for row in rows]


@pytest.mark.parametrize("outcome", ["in_sync", "error", "timeout"])
def test_postgres_connections_are_closed_after_the_check(pg_url: URL, outcome: str) -> None:
    """No driftwatch session outlives a check, whether it passed, failed or timed out."""
    migrate(pg_url, "head")
    if outcome == "in_sync":
        report = _check(shop_target(pg_url))
        assert report.error is None
    elif outcome == "error":
        execute(pg_url, "UPDATE alembic_version SET version_num = 'not a revision!'")
        report = _check(shop_target(pg_url))
        assert report.error is not None
    else:
        target = shop_target(pg_url, lock_timeout_seconds=60, check_timeout_seconds=0.5)
        report = asyncio.run(
            _check_while_locked(
                pg_url, target, "LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"
            )
        )
        assert report.error is not None

    assert asyncio.run(_driftwatch_backends(pg_url)) == []


def test_postgres_control_a_held_session_is_visible(pg_url: URL) -> None:
    """The closed-connection probe does see a driftwatch session that is still open."""

    async def scenario() -> list[str]:
        engine = make_engine(shop_target(pg_url))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                async with pg_admin(pg_url, database="postgres") as admin:
                    rows = await admin.fetch(
                        "SELECT state FROM pg_stat_activity "
                        "WHERE application_name = 'driftwatch' AND datname = $1",
                        pg_url.database,
                    )
                    return [row["state"] for row in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == ["idle in transaction"]


PASSWORD = "p@ss:w0rd/Zq%1"
ENCODED_PASSWORD = urllib.parse.quote(PASSWORD, safe="")


@pytest.fixture
def pg_role_url(pg_url: URL) -> Iterator[URL]:
    """pg_url as a role with a real password and read access (pg_hba may trust it anyway:
    what matters is that the password is in the URL driftwatch holds)."""
    role = f"dw_role_{pg_url.database}"

    async def create() -> None:
        async with pg_admin(pg_url) as admin:
            await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
            await admin.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}"
            )

    async def drop() -> None:
        async with pg_admin(pg_url, database="postgres") as admin:
            await admin.execute(f"DROP DATABASE IF EXISTS {pg_url.database} WITH (FORCE)")
            await admin.execute(f"DROP ROLE IF EXISTS {role}")

    asyncio.run(create())
    try:
        yield pg_url.set(username=role, password=PASSWORD)
    finally:
        asyncio.run(drop())


def _leaks(shown: str) -> bool:
    return PASSWORD in shown or ENCODED_PASSWORD in shown


@pytest.mark.parametrize(
    "breakage",
    ["in_sync", "garbage_version_table", "missing_database", "unreachable"],
)
def test_password_never_appears_in_a_report(pg_url: URL, pg_role_url: URL, breakage: str) -> None:
    """Neither the raw nor the URL-encoded password shows in the report, its text or JSON."""
    migrate(pg_url, "head")
    url = pg_role_url
    if breakage == "garbage_version_table":
        execute(pg_url, "UPDATE alembic_version SET version_num = 'DROP TABLE users; --'")
    elif breakage == "missing_database":
        url = url.set(database=f"{pg_url.database}_missing")
    elif breakage == "unreachable":
        url = url.set(port=1)

    report = _check(shop_target(url, connect_timeout_seconds=5))

    if breakage == "in_sync":
        assert report.error is None, report.error
        assert report.revision is not None and report.revision.kind is RevisionStateKind.AT_HEAD
    else:
        assert report.error is not None
    whole = Report(targets=(report,), generated_at=report.started_at)
    for shown in (report.url, report.error or "", render_text(whole), render_json(whole)):
        assert not _leaks(shown), shown
    assert report.url.endswith(f":***@127.0.0.1:{url.port}/{url.database}")


# --- MariaDB / MySQL --------------------------------------------------------------------


def test_mysql_session_is_read_only_with_timeouts(mysql_url: URL) -> None:
    """Every driftwatch session on MariaDB is read-only with statement and lock timeouts."""
    target = shop_target(mysql_url, statement_timeout_seconds=7, lock_timeout_seconds=3)

    row = asyncio.run(
        _read(
            target,
            "SELECT @@session.tx_read_only, @@session.max_statement_time, "
            "@@session.lock_wait_timeout, @@session.innodb_lock_wait_timeout",
        )
    )

    assert row[0] == 1
    assert float(row[1]) == 7.0
    assert (row[2], row[3]) == (3, 3)


def test_mysql_session_refuses_writes(mysql_url: URL) -> None:
    """A write through driftwatch's engine on MariaDB fails, and nothing is created."""
    migrate(mysql_url, "head")

    with pytest.raises(DBAPIError, match="READ ONLY"):
        asyncio.run(_write(shop_target(mysql_url), "INSERT INTO users (email) VALUES ('x@y')"))

    assert query(mysql_url, "SELECT COUNT(*) FROM users") == [(0,)]


def test_mysql_statement_timeout_stops_a_slow_query(mysql_url: URL) -> None:
    """A query longer than max_statement_time is interrupted by the server."""
    target = shop_target(mysql_url, statement_timeout_seconds=0.2)

    with pytest.raises(DBAPIError, match="max_statement_time"):
        asyncio.run(_read(target, "SELECT SLEEP(30) FROM (SELECT 1) AS one"))


def test_mysql_lock_timeout_ends_a_blocked_check(mysql_url: URL) -> None:
    """A check blocked by LOCK TABLES on the version table gives up after the lock timeout."""
    migrate(mysql_url, "head")
    target = shop_target(mysql_url, lock_timeout_seconds=1, check_timeout_seconds=120)

    async def scenario() -> TargetReport:
        async with mysql_admin(mysql_url) as holder, holder.cursor() as cursor:
            await cursor.execute("LOCK TABLES alembic_version WRITE")
            try:
                return await check_target(target)
            finally:
                await cursor.execute("UNLOCK TABLES")

    report = asyncio.run(scenario())

    assert report.error is not None
    assert "waited longer than lock_timeout_seconds (1 s) for a lock: " in report.error
    assert "Lock wait timeout exceeded" in report.error


def test_mysql_connections_are_closed_after_the_check(mysql_url: URL) -> None:
    """After a check no session remains on the MariaDB database."""
    migrate(mysql_url, "head")
    assert _check(shop_target(mysql_url)).error is None

    async def sessions() -> int:
        async with mysql_admin(mysql_url) as admin, admin.cursor() as cursor:
            for _ in range(50):
                await cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                    "WHERE DB = %s AND ID <> CONNECTION_ID()",
                    (mysql_url.database,),
                )
                (count,) = await cursor.fetchone()
                if count == 0:
                    return 0
                await asyncio.sleep(0.1)
            return int(count)

    assert asyncio.run(sessions()) == 0


MYSQL_PASSWORD = "s3cret:p@ss"


@pytest.fixture
def mysql_user_url(mysql_url: URL) -> Iterator[URL]:
    """mysql_url as a user with a password, allowed to read the test database."""
    user = f"dw_pw_{str(mysql_url.database)[-12:]}"

    async def run(*statements: str) -> None:
        async with mysql_admin(mysql_url) as admin, admin.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)

    asyncio.run(
        run(
            f"CREATE USER '{user}'@'%' IDENTIFIED BY '{MYSQL_PASSWORD}'",
            f"GRANT SELECT ON {mysql_url.database}.* TO '{user}'@'%'",
        )
    )
    try:
        yield mysql_url.set(username=user, password=MYSQL_PASSWORD)
    finally:
        asyncio.run(run(f"DROP USER IF EXISTS '{user}'@'%'"))


def test_mysql_wrong_password_is_one_clean_error(mysql_url: URL, mysql_user_url: URL) -> None:
    """A wrong password fails the check as 'authentication failed', naming neither password."""
    migrate(mysql_url, "head")
    assert _check(shop_target(mysql_user_url)).error is None  # the right password works

    wrong = "not-the-Pa55word"
    report = _check(shop_target(mysql_user_url.set(password=wrong)))

    assert report.error is not None
    assert f"authentication failed for user '{mysql_user_url.username}'" in report.error
    whole = Report(targets=(report,), generated_at=report.started_at)
    for shown in (report.error, report.url, render_text(whole), render_json(whole)):
        assert wrong not in shown
        assert MYSQL_PASSWORD not in shown
        assert "\n" not in report.error


# --- SQLite -----------------------------------------------------------------------------


def test_sqlite_session_refuses_writes(sqlite_url: URL) -> None:
    """A write through driftwatch's engine on SQLite fails; the table stays empty."""
    migrate(sqlite_url, "head")

    with pytest.raises(DBAPIError, match=r"readonly|read-only"):
        asyncio.run(_write(shop_target(sqlite_url), "INSERT INTO users (email) VALUES ('x@y')"))

    assert query(sqlite_url, "SELECT COUNT(*) FROM users") == [(0,)]
    assert asyncio.run(_read(shop_target(sqlite_url), "PRAGMA query_only")) == (1,)


def test_sqlite_missing_file_is_an_error_and_not_created(tmp_path: Path) -> None:
    """A SQLite target whose file does not exist fails to check and no file appears."""
    missing = tmp_path / "nowhere" / "app.db"
    (tmp_path / "nowhere").mkdir()
    url = URL.create("sqlite+aiosqlite", database=str(missing))

    report = _check(shop_target(url))

    assert report.error is not None and "cannot be opened" in report.error
    assert list((tmp_path / "nowhere").iterdir()) == []


@pytest.mark.parametrize("folder", ["with space", "hash#1", "what?mode=rwc", "pct%41"])
def test_sqlite_odd_paths_open_the_right_file_read_only(tmp_path: Path, folder: str) -> None:
    """Characters special in URIs ('#', '?', '%') do not redirect the check to another file."""
    (tmp_path / folder).mkdir()
    url = URL.create("sqlite+aiosqlite", database=str(tmp_path / folder / "app.db"))
    migrate(url, "head")
    before = sorted(p.name for p in tmp_path.rglob("*"))

    report = _check(shop_target(url))

    assert report.error is None, report.error
    assert report.revision is not None and report.revision.kind is RevisionStateKind.AT_HEAD
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_sqlite_lock_timeout_bounds_a_locked_database(sqlite_url: URL) -> None:
    """A database held by an exclusive lock fails the check after the lock timeout."""
    import sqlite3  # noqa: PLC0415

    migrate(sqlite_url, "head")
    holder = sqlite3.connect(str(sqlite_url.database), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        report = _check(shop_target(sqlite_url, lock_timeout_seconds=0.3))
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert report.error is not None and "locked" in report.error
    # the behaviour under test is "gives up rather than hangs": far below the 300 s default
    assert waited < 30
