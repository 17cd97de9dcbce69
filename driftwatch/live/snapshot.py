"""Read a schema snapshot from whichever database a connection speaks to.

Each dialect has its reader (`snapshot_postgresql`, `snapshot_mysql`, `snapshot_sqlite`);
all take a synchronous connection, as `AsyncConnection.run_sync` gives one, and the scope,
and read only what it watches in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from driftwatch.errors import DriftwatchError
from driftwatch.live.snapshot_mysql import read_mysql
from driftwatch.live.snapshot_postgresql import read_postgresql
from driftwatch.live.snapshot_sqlite import read_sqlite
from driftwatch.snapshot import Scope, Snapshot

Reader = Callable[[Connection, Scope], Snapshot]

READERS: dict[str, Reader] = {
    "postgresql": read_postgresql,
    "mysql": read_mysql,
    "mariadb": read_mysql,  # SQLAlchemy's name for a mariadb:// URL
    "sqlite": read_sqlite,
}


class UnsupportedDialectError(DriftwatchError):
    """A database of a dialect driftwatch has no snapshot reader for."""


def read_snapshot(conn: Connection, scope: Scope) -> Snapshot:
    """Snapshot what `scope` watches of the database `conn` is connected to."""
    reader = READERS.get(conn.dialect.name)
    if reader is None:
        supported = ", ".join(sorted(READERS))
        raise UnsupportedDialectError(
            f"no schema snapshot for dialect {conn.dialect.name!r} (supported: {supported})"
        )
    return reader(conn, scope)
