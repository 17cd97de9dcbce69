"""Replay: the migration scripts run from empty into a scratch database, step by step.

alembic's public runtime (`MigrationContext`, `Operations`) runs the scripts on driftwatch's
own connection; the project's `env.py` is never run, so nothing it would do on import (read
settings, connect elsewhere, log) happens here. The models' MetaData is passed as
`target_metadata`, as env.py does, because naming conventions name the constraints a
migration leaves unnamed. Each migration gets its own transaction where the dialect has
transactional DDL, so a failing one is named and the database holds the steps before it.

A chain that does not start from an empty database names a bootstrap (`module:callable`,
called with the connection before the first migration) and/or a revision to stamp after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from driftwatch.errors import DriftwatchError
from driftwatch.expected.sources import import_object


class ReplayError(DriftwatchError):
    """The scripts could not be replayed (a migration failed, a bootstrap is broken)."""


def _context(
    conn: Connection,
    directory: ScriptDirectory,
    metadata: MetaData | None,
    version_table: str,
    fn: Callable[..., Any] | None = None,
) -> MigrationContext:
    opts: dict[str, Any] = {
        "script": directory,
        "target_metadata": metadata,
        "transaction_per_migration": True,
        "version_table": version_table,
    }
    if fn is not None:
        opts["fn"] = fn
    return MigrationContext.configure(connection=conn, opts=opts)


def bootstrap(
    conn: Connection,
    directory: ScriptDirectory,
    *,
    hook: str | None,
    stamp: str | None,
    version_table: str,
) -> None:
    """Prepare the empty scratch database for a chain that does not start from empty."""
    if hook is not None:
        prepare = _import_hook(hook)
        with _failures(f"replay_bootstrap {hook}"):
            prepare(conn)
            if conn.in_transaction():
                conn.commit()
    if stamp is not None:
        with _failures(f"replay_stamp {stamp}"):
            context = _context(conn, directory, None, version_table)
            context.stamp(directory, stamp)
            if conn.in_transaction():
                conn.commit()


def upgrade(
    conn: Connection,
    directory: ScriptDirectory,
    destination: str,
    *,
    metadata: MetaData | None,
    version_table: str,
) -> None:
    """Run every migration from the scratch database's revision up to `destination`."""

    def steps(heads: tuple[str, ...], _context: MigrationContext) -> list[Any]:
        # what alembic's own `upgrade` command asks the script directory for
        return directory._upgrade_revs(destination, heads)  # type: ignore[arg-type]

    context = _context(conn, directory, metadata, version_table, steps)
    with _failures(f"replaying the migrations to {destination}"), Operations.context(context):
        context.run_migrations()
    if conn.in_transaction():
        conn.commit()


def _import_hook(path: str) -> Callable[[Connection], object]:
    found = import_object(path, "replay_bootstrap", ReplayError)
    if not callable(found):
        raise ReplayError(f"replay_bootstrap: {path!r} is not callable")
    return found


@contextmanager
def _failures(what: str) -> Iterator[None]:
    """What a migration or hook raises, however it exits, as one ReplayError line."""
    try:
        yield
    except DriftwatchError:
        raise
    except CommandError as exc:
        raise ReplayError(f"{what}: {_first_line(exc)}") from None
    except BaseException as exc:  # the project's code: SystemExit too must not end driftwatch
        if isinstance(exc, KeyboardInterrupt | GeneratorExit):
            raise
        cause = getattr(exc, "orig", None) or exc
        raise ReplayError(f"{what}: {type(cause).__name__}: {_first_line(cause)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.split(">: ", 1)[-1][:300]
