"""The startup check: is the database at the migration scripts' head?

The service runs `check_migrations` in its lifespan. Out of date is a warning, or an error when
MIGRATIONS_STRICT is set. The comparison is driftwatch's own (`driftwatch.check.check_target`):
the same code the monitor runs, on its own read-only connection with timeouts, reading the
scripts with alembic's public `ScriptDirectory` and never running env.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.errors import MigrationsCheckFailedError, MigrationsOutOfDateError
from driftwatch import DriftwatchError, RevisionState, RevisionStateKind, check_target
from driftwatch.config.targets import Target, parse_url

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


def _status(revision: RevisionState) -> MigrationStatus:
    unknown = revision.kind is RevisionStateKind.UNKNOWN_REVISION
    return MigrationStatus(
        database_heads=revision.database_heads or (),
        script_heads=revision.script_heads,
        pending=None if unknown else tuple(p.revision for p in revision.pending),
    )


async def migration_status(engine: AsyncEngine, config: Config) -> MigrationStatus:
    """Compare the database behind `engine` with the scripts of `config` (an alembic.ini).

    Raises MigrationsCheckFailedError when the database or the scripts cannot be read.
    """
    if config.config_file_name is None:
        raise MigrationsCheckFailedError("the alembic Config names no alembic.ini")
    try:
        url = parse_url(
            engine.url.render_as_string(hide_password=False), origin="the service's database URL"
        )
    except DriftwatchError as exc:
        raise MigrationsCheckFailedError(str(exc)) from None
    # revision only: comparing the live schema at every start would cost a reflection
    target = Target(name="control-plane", url=url, alembic_ini=Path(config.config_file_name))
    report = await check_target(target)
    if report.error is not None or report.revision is None:
        raise MigrationsCheckFailedError(report.error or "no revision state")
    return _status(report.revision)


async def check_migrations(
    engine: AsyncEngine, config: Config, *, strict: bool = False
) -> MigrationStatus | None:
    """Warn, or raise `MigrationsOutOfDateError` when `strict`, unless the database is at head.

    A database or scripts that cannot be read is a warning too, or `MigrationsCheckFailedError`
    when strict (and `None` is returned).
    """
    try:
        status = await migration_status(engine, config)
    except MigrationsCheckFailedError as exc:
        if strict:
            raise
        logger.warning("migrations could not be checked: %s", exc)
        return None
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
