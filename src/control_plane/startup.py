"""The startup check: is the database at the migration scripts' head?

The service runs `check_migrations` in its lifespan. Out of date is a warning, or an error when
MIGRATIONS_STRICT is set. Only alembic's public API is used: `ScriptDirectory` for the heads of
the scripts, `MigrationContext` (inside `run_sync`) for the revisions applied to the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.errors import MigrationsOutOfDateError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    """The database's applied revisions next to the scripts' heads."""

    database_heads: tuple[str, ...]
    script_heads: tuple[str, ...]
    # revisions `alembic upgrade head` would apply, oldest first; None when that cannot be
    # told (the database names a revision the scripts do not have, or another branch)
    pending: tuple[str, ...] | None

    @property
    def up_to_date(self) -> bool:
        return set(self.database_heads) == set(self.script_heads)

    def describe(self) -> str:
        """One line for a log or an exception; names both sides."""
        heads = ", ".join(self.script_heads) or "none"
        if self.up_to_date:
            return f"database is at the migration head ({heads})"
        if not self.database_heads:
            return (
                f"database has no migrations applied (no alembic_version row); "
                f"script head: {heads}; run `alembic upgrade head`"
            )
        current = ", ".join(self.database_heads)
        if self.pending is None:
            return (
                f"database revision {current} is not an ancestor of the script head {heads} "
                "(unknown to this code, or on another branch)"
            )
        return (
            f"database revision {current} is behind the script head {heads}: "
            f"{len(self.pending)} migration(s) pending ({', '.join(self.pending)}); "
            "run `alembic upgrade head`"
        )


def get_head_revisions(config: Config) -> tuple[str, ...]:
    """The heads of the migration scripts that `config` (an alembic.ini) points at."""
    return tuple(ScriptDirectory.from_config(config).get_heads())


def _applied_heads(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


async def get_current_revisions(engine: AsyncEngine) -> tuple[str, ...]:
    """The revisions in the database's alembic_version table; empty when never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_applied_heads)


def _pending(script: ScriptDirectory, database_heads: tuple[str, ...]) -> tuple[str, ...] | None:
    known = {revision.revision for revision in script.walk_revisions()}
    if not known.issuperset(database_heads):
        return None
    try:
        newest_first = script.iterate_revisions("heads", database_heads)
        return tuple(revision.revision for revision in newest_first)[::-1]
    except RevisionError:
        return None


async def migration_status(engine: AsyncEngine, config: Config) -> MigrationStatus:
    """Compare the database behind `engine` with the scripts of `config`."""
    script = ScriptDirectory.from_config(config)
    database_heads = await get_current_revisions(engine)
    return MigrationStatus(
        database_heads=database_heads,
        script_heads=tuple(script.get_heads()),
        pending=_pending(script, database_heads),
    )


async def check_migrations(
    engine: AsyncEngine, config: Config, *, strict: bool = False
) -> MigrationStatus:
    """Warn, or raise `MigrationsOutOfDateError` when `strict`, unless the database is at head."""
    status = await migration_status(engine, config)
    if status.up_to_date:
        logger.info("migrations: %s", status.describe())
        return status
    if strict:
        raise MigrationsOutOfDateError(
            f"migrations out of date: {status.describe()}",
            database_heads=status.database_heads,
            script_heads=status.script_heads,
        )
    logger.warning("migrations out of date: %s", status.describe())
    return status
