"""Database access: the only module that talks to a monitored database.

Every connection is read-only with statement and lock timeouts, used for one check and
closed (no pool: a monitor holds no idle connections on the database it watches).
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations.ops import DropTableCommentOp
from sqlalchemy import MetaData, column, event, inspect, select, table, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.errors import DatabaseError, VersionTableError
from driftwatch.targets import Target

REVISION_ID = re.compile(r"^[A-Za-z0-9_.+@:\-]{1,255}$")
APPLICATION_NAME = "driftwatch"

Decide = Callable[[tuple[str, ...] | None, str | None], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What one visit to the database saw."""

    database_heads: tuple[str, ...] | None  # None: no version table
    fingerprint: str | None  # changes whenever the watched schemas' DDL changes
    diffs: list[Any] | None  # alembic autogenerate diffs; None when no comparison ran
    dialect: Dialect
    default_schema: str | None


# --- engine and session ---------------------------------------------------------------


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def make_engine(target: Target) -> AsyncEngine:
    """An engine whose every connection is read-only and bounded in time."""
    url = target.url
    connect_args: dict[str, Any] = {}
    if target.dialect == "postgresql":
        connect_args = {
            "timeout": target.connect_timeout_seconds,
            "server_settings": {
                "application_name": APPLICATION_NAME,
                "default_transaction_read_only": "on",
                "statement_timeout": _ms(target.statement_timeout_seconds),
                "lock_timeout": _ms(target.lock_timeout_seconds),
                "idle_in_transaction_session_timeout": _ms(target.check_timeout_seconds),
            },
        }
    elif target.dialect == "mysql":
        connect_args = {"connect_timeout": max(1, round(target.connect_timeout_seconds))}
    elif target.dialect == "sqlite":
        # mode=ro: a wrong path must fail, not create an empty database file; the path is
        # percent-encoded, or a '?' or '#' in it would end the path and drop mode=ro
        path = urllib.parse.quote(str(url.database))
        url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        connect_args = {"timeout": target.lock_timeout_seconds}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    event.listen(engine.sync_engine, "connect", _session_guard(target))
    return engine


def _session_guard(target: Target) -> Callable[[Any, Any], None]:
    """Make each new connection read-only with timeouts, before anything else runs on it."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if target.dialect == "mysql":
                cursor.execute("SELECT VERSION()")
                mariadb = "mariadb" in str(cursor.fetchone()[0]).lower()
                lock = max(1, round(target.lock_timeout_seconds))
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute(
                    f"SET SESSION lock_wait_timeout = {lock}, innodb_lock_wait_timeout = {lock}"
                )
                if mariadb:
                    seconds = f"{target.statement_timeout_seconds:.3f}"
                    cursor.execute(f"SET SESSION max_statement_time = {seconds}")
                else:
                    ms = int(target.statement_timeout_seconds * 1000)
                    cursor.execute(f"SET SESSION max_execution_time = {ms}")
            elif target.dialect == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    return on_connect


# --- what is read ---------------------------------------------------------------------


def read_database_heads(conn: Connection, target: Target) -> tuple[str, ...] | None:
    """The revisions in the version table; None if the table does not exist."""
    schema = target.version_table_schema
    if not inspect(conn).has_table(target.version_table, schema=schema):
        return None
    where = f"{schema}.{target.version_table}" if schema else target.version_table
    version_table = table(target.version_table, column("version_num"), schema=schema)
    try:
        rows = conn.execute(select(version_table.c.version_num)).scalars().all()
    except DBAPIError as exc:
        message = str(_root_cause(exc)).lower()
        if "column" in message and any(
            s in message for s in ("does not exist", "unknown column", "no such column")
        ):
            raise VersionTableError(
                f"target {target.name!r}: table {where} has no version_num column: "
                "not an alembic version table"
            ) from None
        raise
    bad = [row for row in rows if not isinstance(row, str) or not REVISION_ID.match(row)]
    if bad:
        shown = repr(bad[0])[:40]
        raise VersionTableError(
            f"target {target.name!r}: version table {where} holds {len(bad)} value(s) that are "
            f"not revision identifiers, e.g. {shown}"
        )
    return tuple(sorted(set(rows)))


PG_FINGERPRINT = """
SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (
  SELECT 'n' || n.oid || ':' || n.xmin FROM pg_namespace n WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 'c' || c.oid || ':' || c.xmin FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(:schemas) AND a.attnum > 0
  UNION ALL
  SELECT 'i' || i.indexrelid || ':' || i.xmin FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 'k' || k.oid || ':' || k.xmin FROM pg_constraint k
    JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 'd' || d.oid || ':' || d.xmin FROM pg_attrdef d
    JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 't' || t.oid || ':' || t.xmin FROM pg_type t
    JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ANY(:schemas)
  UNION ALL
  SELECT 'e' || e.oid || ':' || e.xmin FROM pg_enum e
    JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = ANY(:schemas)
  UNION ALL
  -- comments live in pg_description, which a COMMENT ON changes without touching pg_class
  SELECT 'm' || d.objoid || '.' || d.objsubid || ':' || d.xmin FROM pg_description d
    JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(:schemas)
) AS catalog(x)
"""

MYSQL_FINGERPRINT = """
SELECT COUNT(*), COALESCE(SUM(CRC32(x)), 0),
       COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(MD5(x), 1, 16), 16, 10) AS UNSIGNED)), 0)
FROM (
  SELECT CONCAT_WS('|', 't', TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT,
                   COALESCE(TABLE_COLLATION, '')) AS x
    FROM information_schema.TABLES WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'c', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION,
                   COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '<none>'), EXTRA,
                   COLUMN_COMMENT, COALESCE(COLLATION_NAME, ''))
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 's', TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX,
                   COALESCE(COLUMN_NAME, ''), NON_UNIQUE, COALESCE(SUB_PART, ''), INDEX_TYPE)
    FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'r', CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME,
                   COALESCE(UNIQUE_CONSTRAINT_NAME, ''), UPDATE_RULE, DELETE_RULE,
                   REFERENCED_TABLE_NAME)
    FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN :schemas
  UNION ALL
  SELECT CONCAT_WS('|', 'u', TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME,
                   ORDINAL_POSITION, COALESCE(REFERENCED_TABLE_SCHEMA, ''),
                   COALESCE(REFERENCED_TABLE_NAME, ''), COALESCE(REFERENCED_COLUMN_NAME, ''))
    FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA IN :schemas
) AS catalog
"""


def read_fingerprint(conn: Connection, schemas: list[str]) -> str:
    """A value that changes whenever DDL changes the watched schemas (one query)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        row = conn.execute(text(PG_FINGERPRINT), {"schemas": schemas}).scalar_one()
        return f"pg:{row}"
    if dialect == "mysql":
        from sqlalchemy import bindparam  # noqa: PLC0415

        statement = text(MYSQL_FINGERPRINT).bindparams(bindparam("schemas", expanding=True))
        count, crc, xor = conn.execute(statement, {"schemas": schemas}).one()
        return f"mysql:{count}:{crc}:{xor}"
    # sqlite: the schema cookie is incremented by every schema change
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    return f"sqlite:{version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which schemas and tables a target watches; `None` is the default schema."""

    schemas: frozenset[str | None]
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def table_selected(self, schema: str | None, name: str) -> bool:
        qualified = f"{schema}.{name}" if schema else name
        candidates = (name, qualified)

        def matches(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(c, p) for p in patterns for c in candidates)

        if self.include and not matches(self.include):
            return False
        return not matches(self.exclude)


def watched_scope(target: Target, metadata: MetaData | None, default_schema: str | None) -> Scope:
    named: set[str | None]
    if target.schemas:
        named = {None if s == default_schema else s for s in target.schemas}
    else:
        named = {None}
        if metadata is not None:
            named |= {
                None if t.schema == default_schema else t.schema for t in metadata.tables.values()
            }
    return Scope(
        schemas=frozenset(named), include=target.include_tables, exclude=target.exclude_tables
    )


# MySQL and MariaDB store a default as its value or canonical spelling, not as written:
# TRUE is kept as 1, NOW() as current_timestamp(); alembic compares the spellings
MYSQL_DEFAULT_SYNONYMS = (
    (re.compile(r"^true$"), "1"),
    (re.compile(r"^false$"), "0"),
    (re.compile(r"^(now|localtime|localtimestamp)\b"), "current_timestamp"),
)


def _mysql_default_spelling(rendered: str) -> str:
    spelling = rendered.strip().lower()
    while len(spelling) > 1 and spelling[0] + spelling[-1] in ("''", "()"):
        spelling = spelling[1:-1].strip()
    spelling = spelling.removesuffix("()")
    for pattern, canonical in MYSQL_DEFAULT_SYNONYMS:
        spelling = pattern.sub(canonical, spelling)
    return spelling


def _server_default_differs(
    context: MigrationContext,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_default: str | None,
    _metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """alembic's compare_server_default hook, for what its dialect comparisons get wrong.

    True or False decides; None leaves the case to alembic's comparison for the dialect.
    """
    if inspected_default is None or rendered_metadata_default is None:
        return None
    dialect = context.dialect.name
    if dialect == "mysql" and _mysql_default_spelling(inspected_default) == (
        _mysql_default_spelling(rendered_metadata_default)
    ):
        return False
    if dialect == "postgresql" and "nextval(" in f"{inspected_default} {rendered_metadata_default}":
        # alembic would run SELECT <live default> = <model default>, and nextval() must not
        # run (it writes; our read-only transaction refuses it): compare the spellings
        return _pg_default_spelling(inspected_default) != _pg_default_spelling(
            rendered_metadata_default
        )
    return None


def _pg_default_spelling(rendered: str) -> str:
    return rendered.replace("::regclass", "").strip()


def compare_schema(conn: Connection, target: Target, metadata: MetaData, scope: Scope) -> list[Any]:
    """Run alembic's autogenerate comparison; return its diffs (see compare.findings_from_diffs)."""
    default_schema = conn.dialect.default_schema_name

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        # called for reflected names before reflection: an excluded table costs nothing
        if type_ == "schema":
            return (None if name == default_schema else name) in scope.schemas
        if type_ == "table":
            return scope.table_selected(parent_names.get("schema_name"), str(name))
        return True

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, _other: Any
    ) -> bool:
        if type_ == "table" and not reflected:
            schema = None if obj.schema == default_schema else obj.schema
            return schema in scope.schemas and scope.table_selected(schema, str(name))
        return True

    context = MigrationContext.configure(
        connection=conn,
        opts={
            "target_metadata": metadata,
            "compare_type": target.compare_type,
            "compare_server_default": target.compare_server_default and _server_default_differs,
            "include_schemas": scope.schemas != frozenset({None}),
            "include_name": include_name,
            "include_object": include_object,
            "version_table": target.version_table,
            "version_table_schema": target.version_table_schema,
        },
    )
    script = produce_migrations(context, metadata)
    upgrade_ops = script.upgrade_ops
    if upgrade_ops is None:
        return []
    diffs = list(upgrade_ops.as_diffs())
    _restore_dropped_table_comments(upgrade_ops.ops, diffs)
    return diffs


def _restore_dropped_table_comments(operations: list[Any], diffs: list[Any]) -> None:
    """Put the live comment back on ("remove_table_comment", table) diffs.

    alembic's diff tuple for a comment the models do not have carries a bare Table, so the
    comment the database holds (the finding's `actual`) would be lost.
    """
    live: dict[tuple[str | None, str], str | None] = {}
    pending = list(operations)
    while pending:
        operation = pending.pop()
        pending.extend(getattr(operation, "ops", ()))
        if isinstance(operation, DropTableCommentOp):
            live[(operation.schema, operation.table_name)] = operation.existing_comment
    for diff in diffs:
        if isinstance(diff, tuple) and diff[0] == "remove_table_comment":
            diff[1].comment = live.get((diff[1].schema, diff[1].name))


# --- one visit --------------------------------------------------------------------------


async def observe(
    engine: AsyncEngine, target: Target, metadata: MetaData | None, decide: Decide
) -> Observation:
    """Read heads and fingerprint; run the full comparison when `decide` says so.

    One connection, one read-only transaction, rolled back at the end.
    """

    def visit(conn: Connection) -> Observation:
        default_schema = conn.dialect.default_schema_name
        heads = read_database_heads(conn, target)
        scope = watched_scope(target, metadata, default_schema)
        names = sorted(
            name
            for name in (default_schema if s is None else s for s in scope.schemas)
            if name is not None
        )
        fingerprint = read_fingerprint(conn, names) if names else None
        diffs = None
        if metadata is not None and decide(heads, fingerprint):
            diffs = compare_schema(conn, target, metadata, scope)
        return Observation(
            database_heads=heads,
            fingerprint=fingerprint,
            diffs=diffs,
            dialect=conn.dialect,
            default_schema=default_schema,
        )

    with translate_errors(target):
        async with asyncio.timeout(target.check_timeout_seconds), engine.connect() as conn:
            try:
                return await conn.run_sync(visit)
            finally:
                await conn.rollback()
    raise AssertionError("unreachable")  # pragma: no cover - translate_errors always raises


# --- errors -----------------------------------------------------------------------------


TIMEOUT_MESSAGES = (
    "statement timeout",  # PostgreSQL statement_timeout
    "lock timeout",  # PostgreSQL lock_timeout
    "max_statement_time",  # MariaDB
    "maximum statement execution time",  # MySQL max_execution_time
    "lock wait timeout",  # MySQL/MariaDB lock_wait_timeout, innodb_lock_wait_timeout
)


def _is_timeout(exc: BaseException) -> bool:
    text_ = str(exc).lower()
    return any(message in text_ for message in TIMEOUT_MESSAGES)


def _root_cause(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's and the async adapter's wrappers."""
    root: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    return root


def _reason(exc: BaseException, target: Target) -> str:  # noqa: PLR0911 - one return per cause
    """One line saying why the database could not be read, without secrets."""
    root = _root_cause(exc)
    name = type(root).__name__
    text_ = str(root).strip().splitlines()[0] if str(root).strip() else name
    host = f"{target.url.host or 'localhost'}:{target.url.port or ''}".rstrip(":")
    lowered = text_.lower()
    if isinstance(exc, TimeoutError):
        return f"timed out after {target.check_timeout_seconds:g} s"
    if isinstance(root, socket.gaierror):
        return f"cannot resolve host {target.url.host!r}"
    if isinstance(root, ConnectionRefusedError) or "connection refused" in lowered:
        return f"connection refused by {host}"
    if (
        "password authentication failed" in lowered
        or "access denied" in lowered
        or (name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"))
    ):
        return f"authentication failed for user {target.url.username!r}"
    if (
        name == "InvalidCatalogNameError"
        or "unknown database" in lowered
        or ("does not exist" in lowered and "database" in lowered)
    ):
        return f"database {target.url.database!r} does not exist"
    if "unable to open database file" in lowered:
        return f"SQLite database file {target.url.database!r} cannot be opened (does it exist?)"
    if isinstance(root, OSError | TimeoutError) and not isinstance(root, ConnectionRefusedError):
        return f"cannot connect to {host}: {text_}"
    if _is_timeout(root):
        return f"a query hit the statement or lock timeout: {text_}"
    if "permission denied" in lowered or "command denied" in lowered:
        return f"permission denied: {text_}"
    return f"{name}: {text_}"


def scrub(message: str, target: Target) -> str:
    password = target.url.password
    if password:
        message = message.replace(str(password), "***")
    return message.replace("\n", " ")


@contextmanager
def translate_errors(target: Target) -> Iterator[None]:
    try:
        yield
    except (VersionTableError, DatabaseError):
        raise
    except (SQLAlchemyError, OSError, TimeoutError, NoSuchTableError) as exc:
        reason = scrub(_reason(exc, target), target)
        raise DatabaseError(f"target {target.name!r} ({target.safe_url}): {reason}") from None
    except Exception as exc:  # drivers raise their own types for protocol-level failures
        reason = scrub(_reason(exc, target), target)
        raise DatabaseError(f"target {target.name!r} ({target.safe_url}): {reason}") from None
