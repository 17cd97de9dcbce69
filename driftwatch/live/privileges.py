"""Whether driftwatch may see what it compares: a missing privilege is an error, not drift.

Database access, called from `live.observe` on its connection.

MySQL/MariaDB show a user only the tables it holds some privilege on (information_schema,
SHOW TABLES and reflection alike), and with grants on single tables information_schema shows
no constraint at all. A user allowed to read the version table alone sees no other table, and
the comparison would call every table of the models missing. The privilege tables cannot
settle it (wildcard database grants, roles, global grants, partial revokes), so driftwatch
asks the server itself. A SELECT of no rows from a table answers "denied" (1142) when the user
has no privilege on it, whether it exists or not, and "no such table" (1146) when the user
may read it and it is not there:
- for a schema where something seems missing (a table, or every CHECK constraint), once,
  from a table that cannot exist: "no such table" means SELECT on the whole schema (a
  database or global grant), so everything shows and missing is missing;
- in a schema granted table by table, each table the comparison found missing: the first
  denial ends the check with an error naming it and the grant to make; "no such table" (a
  grant that outlived its table) confirms it missing. CHECK constraints there are read from
  each table's DDL (see catalog.read_checks).
A check that finds nothing missing asks nothing (a refused probe may show in an audit log).
A table the user may read but not whole (column grants) fails reflection with its own error.

PostgreSQL shows its catalogs to everyone, but a role without USAGE on a schema cannot resolve
names in it, and parts of the comparison do (the owned sequences of serial columns): whether
such a check fails depends on the tables. A watched schema without USAGE is an error up front.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import literal_column, select, table, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

from driftwatch.config.targets import Target
from driftwatch.errors import PrivilegeError
from driftwatch.live.errors import root_cause

PG_SCHEMAS_WITHOUT_USAGE = """
SELECT n.nspname, current_user FROM pg_namespace n
WHERE n.nspname = ANY(CAST(:schemas AS text[])) AND NOT has_schema_privilege(n.oid, 'USAGE')
ORDER BY n.nspname
"""

MYSQL_DENIED = frozenset({1044, 1142})  # database, table access denied
MYSQL_ABSENT = frozenset({1146})  # no such table
# a name no application uses: only "denied" or "no such table" can come back for it
PROBE_TABLE = f"driftwatch_privilege_probe_{uuid.uuid4().hex[:12]}"

TableKey = tuple[str, str]  # schema, table


def check_schema_usage(conn: Connection, target: Target, schemas: Iterable[str]) -> None:
    """PostgreSQL: raise PrivilegeError if the session lacks USAGE on a watched schema."""
    names = sorted(set(schemas))
    if conn.dialect.name != "postgresql" or not names:
        return
    rows = conn.execute(text(PG_SCHEMAS_WITHOUT_USAGE), {"schemas": names}).all()
    if rows:
        schema, role = rows[0]
        raise PrivilegeError(
            f"role {role!r} lacks USAGE on schema {schema!r}, so its tables cannot be "
            f"compared (GRANT USAGE ON SCHEMA {schema} TO {role})",
            target=target.name,
            url=target.safe_url,
        )


def _mysql_code(exc: DBAPIError) -> int | None:
    args: Any = getattr(root_cause(exc), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _denied(conn: Connection, schema: str, name: str) -> str | None:
    """The server's refusal to read `schema.name`, or None if the user may read it."""
    probe: Select[Any] = (
        select(literal_column("1")).select_from(table(name, schema=schema)).limit(0)
    )
    try:
        conn.execute(probe)
    except DBAPIError as exc:
        code = _mysql_code(exc)
        if code in MYSQL_DENIED:
            return str(root_cause(exc).args[-1])
        if code in MYSQL_ABSENT:
            return None
        raise
    return None


def _refuse(target: Target, schema: str, refusal: str) -> PrivilegeError:
    return PrivilegeError(
        f"cannot read schema {schema!r}: {refusal}: a table it may not see would look "
        f"missing (GRANT SELECT ON `{schema}`.* TO this user)",
        target=target.name,
        url=target.safe_url,
    )


def schemas_granted_table_by_table(conn: Connection, schemas: Iterable[str]) -> frozenset[str]:
    """MySQL/MariaDB: the schemas this user may not SELECT from as a whole (it holds grants on
    single tables, or none): there a table it cannot see may exist."""
    if conn.dialect.name != "mysql":
        return frozenset()
    return frozenset(s for s in schemas if _denied(conn, s, PROBE_TABLE) is not None)


def check_missing_readable(conn: Connection, target: Target, missing: Iterable[TableKey]) -> None:
    """MySQL/MariaDB: raise PrivilegeError if a table the comparison found missing, in a
    schema granted table by table, may exist unseen."""
    missing = sorted(set(missing))
    table_by_table = schemas_granted_table_by_table(conn, {schema for schema, _name in missing})
    for schema, name in missing:
        if schema in table_by_table and (refusal := _denied(conn, schema, name)) is not None:
            raise _refuse(target, schema, refusal)
