"""The Control Plane's migration startup check and lifespan, against real PostgreSQL databases
brought to a given revision with alembic's command API."""

from __future__ import annotations

import asyncio
import logging

import pytest
import sqlalchemy as sa
from alembic.command import upgrade as alembic_upgrade
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from control_plane.config import Settings
from control_plane.errors import MigrationsCheckFailedError, MigrationsOutOfDateError
from control_plane.main import lifespan
from control_plane.migrations import alembic_config
from control_plane.models import Workspace
from control_plane.startup import MigrationStatus, check_migrations
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.postgres

INI = REPO_ROOT / "alembic.ini"
SCRIPTS = ScriptDirectory.from_config(alembic_config(INI))
REVISIONS = [script.revision for script in SCRIPTS.walk_revisions()][::-1]
HEAD = REVISIONS[-1]
STARTUP_LOGGER = "control_plane.startup"


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def upgrade(url: URL, revision: str) -> None:
    """`alembic upgrade <revision>` in this process, the URL set on the Config."""
    config = alembic_config(INI, database_url=url_text(url))
    config.attributes["configure_logger"] = False  # keep pytest's logging as it is
    alembic_upgrade(config, revision)


def check(url: URL, *, strict: bool = False) -> MigrationStatus | None:
    async def run() -> MigrationStatus:
        engine: AsyncEngine = create_async_engine(url, poolclass=sa.NullPool)
        try:
            return await check_migrations(engine, alembic_config(INI), strict=strict)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def startup_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == STARTUP_LOGGER and record.levelno >= logging.WARNING
    ]


def test_at_head_is_quiet(pg_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    """A database at the head passes the check without a warning, even when strict."""
    upgrade(pg_url, "head")
    status = check(pg_url, strict=True)
    assert status.up_to_date
    assert status.database_heads == status.script_heads == (HEAD,)
    assert status.pending == ()
    assert startup_warnings(caplog) == []


def test_behind_warns_with_both_revisions(pg_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    """A database two revisions behind logs one warning naming its revision, the head and the
    pending revisions, and the check returns normally."""
    upgrade(pg_url, REVISIONS[-3])
    status = check(pg_url)
    assert not status.up_to_date
    assert status.database_heads == (REVISIONS[-3],)
    assert status.pending == (REVISIONS[-2], HEAD)
    [warning] = startup_warnings(caplog)
    assert REVISIONS[-3] in warning
    assert HEAD in warning
    assert "2 migration(s) pending" in warning


def test_behind_raises_when_strict(pg_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    """With strict set, a database behind the head raises an error that carries both sides."""
    upgrade(pg_url, REVISIONS[0])
    with pytest.raises(MigrationsOutOfDateError, match="behind the script head") as raised:
        check(pg_url, strict=True)
    assert raised.value.database_heads == (REVISIONS[0],)
    assert raised.value.script_heads == (HEAD,)
    assert startup_warnings(caplog) == []


def test_never_migrated(pg_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    """A database without alembic_version warns that no migrations are applied, and raises
    when strict."""
    status = check(pg_url)
    assert status.database_heads == ()
    assert status.pending == tuple(REVISIONS)
    [warning] = startup_warnings(caplog)
    assert "no migrations applied" in warning
    assert HEAD in warning

    with pytest.raises(MigrationsOutOfDateError, match="no migrations applied"):
        check(pg_url, strict=True)


def test_unknown_revision(pg_url: URL, caplog: pytest.LogCaptureFixture) -> None:
    """A database on a revision the scripts do not know (code rolled back) is out of date and
    the warning says that the revision is not an ancestor of the head."""

    async def stamp_unknown() -> None:
        engine = create_async_engine(pg_url, poolclass=sa.NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
                )
                await connection.execute(
                    sa.text("INSERT INTO alembic_version VALUES ('0badc0ffee00')")
                )
        finally:
            await engine.dispose()

    asyncio.run(stamp_unknown())
    status = check(pg_url)
    assert status.database_heads == ("0badc0ffee00",)
    assert status.pending is None
    [warning] = startup_warnings(caplog)
    assert "0badc0ffee00 is not an ancestor" in warning


def test_lifespan_serves_at_head(pg_url: URL) -> None:
    """The lifespan checks the migrations, then yields an engine and a working session factory."""
    upgrade(pg_url, "head")
    settings = Settings(
        database_url=url_text(pg_url), alembic_config=str(INI), migrations_strict=True
    )

    async def serve() -> str:
        async with lifespan(settings=settings) as state:
            async with state["sessions"]() as session:
                session.add(Workspace(slug="acme", name="Acme"))
                await session.commit()
            async with state["sessions"]() as session:
                found = await session.get(Workspace, 1)
                assert found is not None
                return found.slug

    assert asyncio.run(serve()) == "acme"


def test_lifespan_refuses_to_start_behind_when_strict(pg_url: URL) -> None:
    """With MIGRATIONS_STRICT the lifespan does not start on a database behind the head."""
    upgrade(pg_url, REVISIONS[0])
    settings = Settings(
        database_url=url_text(pg_url), alembic_config=str(INI), migrations_strict=True
    )

    async def serve() -> None:
        async with lifespan(settings=settings):
            pytest.fail("the lifespan started")

    with pytest.raises(MigrationsOutOfDateError):
        asyncio.run(serve())


def test_unreachable_database_warns_or_raises_when_strict(
    pg_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    """A database that refuses connections is a one-line warning, or an error when strict;
    the password never appears in either."""
    closed = pg_url.set(port=1, password="hunter2-secret")
    assert check(closed) is None
    [warning] = startup_warnings(caplog)
    assert "connection refused" in warning
    assert "hunter2-secret" not in warning

    with pytest.raises(MigrationsCheckFailedError, match="connection refused") as raised:
        check(closed, strict=True)
    assert "hunter2-secret" not in str(raised.value)
