"""One visit to a monitored database: its engine, its version table, and what it holds.

`live/` is the only package that talks to a monitored database. Every connection is
read-only with statement and lock timeouts, used for one check and closed (no pool: a
monitor holds no idle connections on the database it watches).
"""

from __future__ import annotations

import asyncio
import fnmatch
import glob
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from alembic.autogenerate import produce_migrations
from alembic.migration import MigrationContext
from alembic.operations.ops import DropTableCommentOp
from sqlalchemy import MetaData, Table, column, event, inspect, select, table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import TableClause

from driftwatch.compare.catalog import (
    catalog_diffs,
    enum_schemas,
    explicit_enum_schemas,
    local_schema,
    native_enum_uses,
    schemas_without_live_checks,
)
from driftwatch.compare.defaults import PLUGIN_NAME as SERVER_DEFAULTS_PLUGIN
from driftwatch.compare.filters import ProjectFilters
from driftwatch.config.targets import Target
from driftwatch.errors import VersionTableError
from driftwatch.live.catalog import read_catalog, read_checks
from driftwatch.live.errors import ConnectTimeoutError, root_cause, translate_errors
from driftwatch.live.privileges import (
    check_missing_readable,
    check_schema_usage,
    schemas_granted_table_by_table,
)
from driftwatch.live.probe import read_fingerprint, read_pg_heads
from driftwatch.live.snapshot import read_snapshot
from driftwatch.snapshot import Scope as SnapshotScope
from driftwatch.snapshot import Snapshot

REVISION_ID = re.compile(r"^[A-Za-z0-9_.+@:\-]{1,255}$")
APPLICATION_NAME = "driftwatch"

Decide = Callable[[tuple[str, ...] | None, str | None], bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """What one visit to the database saw."""

    database_heads: tuple[str, ...] | None  # None: no version table
    fingerprint: str | None  # changes whenever the watched schemas' DDL changes
    diffs: list[Any] | None  # alembic autogenerate diffs; None when that comparison did not run
    snapshot: Snapshot | None = None  # the live schema, when a snapshot comparison is to run
    dialect: Dialect
    default_schema: str | None
    # a migration was seen running: nothing of the schema is kept (`diffs` and `snapshot`
    # None, no fingerprint), `database_heads` is the last read
    migrating: bool = False
    # a migration was seen running, waited out (`migrating`) or not (see `observe`)
    migration_seen: bool = False


# --- engine and session ---------------------------------------------------------------


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


def make_engine(target: Target) -> AsyncEngine:
    """An engine whose every connection is read-only and bounded in time."""
    url = target.url
    connect_args: dict[str, Any] = {}
    if target.dialect == "postgresql":
        connect_args = {
            "timeout": target.timeouts.connect_timeout_seconds,
            "server_settings": {
                "application_name": APPLICATION_NAME,
                "default_transaction_read_only": "on",
                "statement_timeout": _ms(target.timeouts.statement_timeout_seconds),
                "lock_timeout": _ms(target.timeouts.lock_timeout_seconds),
                "idle_in_transaction_session_timeout": _ms(target.timeouts.check_timeout_seconds),
            },
        }
    elif target.dialect == "mysql":
        connect_args = {"connect_timeout": target.timeouts.connect_timeout_seconds}
    elif target.dialect == "sqlite":
        # mode=ro: a wrong path must fail, not create an empty database file; the path is
        # percent-encoded, or a '?' or '#' in it would end the path and drop mode=ro
        path = urllib.parse.quote(str(url.database))
        url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        connect_args = {"timeout": target.timeouts.lock_timeout_seconds}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    event.listen(engine.sync_engine, "connect", _session_guard(target))
    return engine


def _session_guard(target: Target) -> Callable[[Any, Any], None]:
    """Make each new connection read-only with timeouts, before anything else runs on it."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if target.dialect == "mysql":
                version = _server_version(dbapi_connection)
                if not version:  # a driver that does not keep the handshake: ask
                    cursor.execute("SELECT VERSION()")
                    version = str(cursor.fetchone()[0])
                cursor.execute(_mysql_session_settings(target, version))
            elif target.dialect == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()

    return on_connect


def _server_version(dbapi_connection: Any) -> str:
    """The server's version string from the connection handshake: no query needed."""
    driver = getattr(dbapi_connection, "driver_connection", dbapi_connection)
    get_server_info = getattr(driver, "get_server_info", None)
    return str(get_server_info()) if get_server_info is not None else ""


def _mysql_session_settings(target: Target, version: str) -> str:
    """One SET for the whole guard: read-only, lock and statement timeouts (one round trip).

    MariaDB and MySQL spell two of the variables differently; the handshake tells which.
    """
    lock = max(1, round(target.timeouts.lock_timeout_seconds))
    if "mariadb" in version.lower():
        read_only = "tx_read_only = 1"
        statement = f"max_statement_time = {target.timeouts.statement_timeout_seconds:.3f}"
    else:
        read_only = "transaction_read_only = 1"
        statement = f"max_execution_time = {int(target.timeouts.statement_timeout_seconds * 1000)}"
    return (
        f"SET SESSION {read_only}, lock_wait_timeout = {lock}, "
        f"innodb_lock_wait_timeout = {lock}, {statement}"
    )


# --- what is read ---------------------------------------------------------------------


def _version_table(target: Target) -> TableClause:
    return table(target.version_table, column("version_num"), schema=target.version_table_schema)


def read_database_heads(conn: Connection, target: Target) -> tuple[str, ...] | None:
    """The revisions in the version table; None if the table does not exist."""
    schema = target.version_table_schema
    if not inspect(conn).has_table(target.version_table, schema=schema):
        return None
    version_table = _version_table(target)
    try:
        rows = conn.execute(select(version_table.c.version_num)).scalars().all()
    except DBAPIError as exc:
        message = str(root_cause(exc)).lower()
        if "column" in message and any(
            s in message for s in ("does not exist", "unknown column", "no such column")
        ):
            raise VersionTableError(
                f"table {_where(target)} has no version_num column: not an alembic version table",
                target=target.name,
            ) from None
        raise
    return _heads(rows, target)


def _where(target: Target) -> str:
    schema = target.version_table_schema
    return f"{schema}.{target.version_table}" if schema else target.version_table


def _heads(rows: Sequence[Any], target: Target) -> tuple[str, ...]:
    bad = [row for row in rows if not isinstance(row, str) or not REVISION_ID.match(row)]
    if bad:
        shown = repr(bad[0])[:40]
        raise VersionTableError(
            f"version table {_where(target)} holds {len(bad)} value(s) that are not revision "
            f"identifiers, e.g. {shown}",
            target=target.name,
        )
    return tuple(sorted(set(rows)))


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRead:
    """One read of the version table."""

    heads: tuple[str, ...] | None  # None: no version table
    fingerprint: str | None  # of the schemas asked for; None for none
    migrating: bool = False  # a migration holds the version table (PostgreSQL: PG_MIGRATING)


def read_heads_and_fingerprint(
    conn: Connection, target: Target, schemas: list[str], watched: list[str] | None = None
) -> VersionRead:
    """The applied revisions, and the fingerprint of `schemas` (None for none): on
    PostgreSQL in one statement, with whether a migration holds the version table (and a
    relation of the `watched` schemas, by default `schemas`), when the table is there (a
    daemon's tick is then one round trip after connecting); otherwise, or to say what is
    wrong with the table, one question at a time."""
    if conn.dialect.name == "postgresql":
        try:
            found = read_pg_heads(
                conn, _version_table(target), schemas, schemas if watched is None else watched
            )
        except DBAPIError:
            pass  # no version table, or not one: autocommit, so nothing to roll back
        else:
            return VersionRead(
                heads=_heads(found.rows, target),
                fingerprint=found.fingerprint,
                migrating=found.migrating,
            )
    return VersionRead(
        heads=read_database_heads(conn, target),
        fingerprint=read_fingerprint(conn, schemas) if schemas else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which schemas and tables a target watches; `None` is the default schema."""

    schemas: frozenset[str | None]
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def schema_names(self, default_schema: str | None) -> list[str]:
        """The watched schemas by their names in the database, sorted."""
        named = (default_schema if s is None else s for s in self.schemas)
        return sorted(name for name in named if name is not None)

    def selects(self, table: Table, default_schema: str | None) -> bool:
        """Whether a models' table is watched (its schema, then include/exclude)."""
        schema = local_schema(table.schema, default_schema)
        return schema in self.schemas and self.table_selected(schema, table.name)

    def table_selected(self, schema: str | None, name: str) -> bool:
        qualified = f"{schema}.{name}" if schema else name
        candidates = (name, qualified)

        def matches(patterns: tuple[str, ...]) -> bool:
            return any(fnmatch.fnmatchcase(c, p) for p in patterns for c in candidates)

        if self.include and not matches(self.include):
            return False
        return not matches(self.exclude)


def watched_scope(
    target: Target,
    metadata: MetaData | None,
    default_schema: str | None,
    expected_schemas: tuple[str | None, ...] = (),
) -> Scope:
    """The target's `schemas`, else the default one and those the expected state names: the
    models' tables' (`metadata`), or a saved snapshot's (`expected_schemas`, None the default)."""
    named: set[str | None]
    if target.schemas:
        named = {local_schema(s, default_schema) for s in target.schemas}
    else:
        named = {None, *expected_schemas}
        if metadata is not None:
            named |= {local_schema(t.schema, default_schema) for t in metadata.tables.values()}
    return Scope(
        schemas=frozenset(named), include=target.include_tables, exclude=target.exclude_tables
    )


def compare_schema(
    conn: Connection,
    target: Target,
    metadata: MetaData,
    scope: Scope,
    filters: ProjectFilters | None = None,
) -> list[Any]:
    """Run alembic's autogenerate comparison; return its diffs (see compare.findings_from_diffs).
    The project's env.py `filters` are asked as alembic asks them, after the target's scope."""
    default_schema = conn.dialect.default_schema_name
    filters = filters or ProjectFilters()
    theirs_name, theirs_object = filters.include_name, filters.include_object

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        # called for reflected names before reflection: an excluded table costs nothing
        if type_ == "schema" and local_schema(name, default_schema) not in scope.schemas:
            return False
        if type_ == "table" and not scope.table_selected(
            parent_names.get("schema_name"), str(name)
        ):
            return False
        return theirs_name is None or theirs_name(name, type_, parent_names)

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
        if type_ == "table" and not reflected and not scope.selects(obj, default_schema):
            return False
        return theirs_object is None or theirs_object(obj, name, type_, reflected, other)

    plugins = ["alembic.autogenerate.*"]
    if target.compare.compare_server_default:
        plugins.append(SERVER_DEFAULTS_PLUGIN)  # decides server defaults first (see defaults)
    context = MigrationContext.configure(
        connection=conn,
        opts={
            "target_metadata": metadata,
            "compare_type": target.compare.compare_type,
            "compare_server_default": target.compare.compare_server_default,
            "autogenerate_plugins": plugins,
            "include_schemas": scope.schemas != frozenset({None}),
            "include_name": include_name,
            "include_object": include_object,
            "version_table": target.version_table,
            "version_table_schema": target.version_table_schema,
        },
    )
    check_schema_usage(conn, target, scope.schema_names(default_schema))
    script = produce_migrations(context, metadata)
    upgrade_ops = script.upgrade_ops
    diffs: list[Any] = []
    if upgrade_ops is not None:
        diffs = list(upgrade_ops.as_diffs())
        _restore_dropped_table_comments(upgrade_ops.ops, diffs)
    missing = [
        (str(d[1].schema or default_schema), d[1].name)
        for d in diffs
        if isinstance(d, tuple) and d[0] == "add_table"
    ]
    check_missing_readable(conn, target, missing)
    return diffs + _catalog_diffs(conn, target, metadata, scope, filters)


def read_live_snapshot(
    conn: Connection,
    target: Target,
    scope: Scope,
    expected_tables: frozenset[tuple[str | None, str]] | None,
) -> Snapshot:
    """The watched part of the live schema, minus the version table; an expected table that
    is not there is probed first, as a table the user may not see is no missing table
    (`expected_tables` None: the caller probes them later, see `probe_missing_tables`)."""
    default_schema = conn.dialect.default_schema_name
    check_schema_usage(conn, target, scope.schema_names(default_schema))
    version_table = target.version_table
    if local_schema(target.version_table_schema, default_schema) is not None:
        version_table = f"{target.version_table_schema}.{version_table}"
    wanted = SnapshotScope(
        schemas=tuple(sorted(scope.schemas, key=lambda s: (s is not None, s or ""))),
        include=scope.include,
        exclude=(*scope.exclude, glob.escape(version_table)),
    )
    live = read_snapshot(conn, wanted)
    if expected_tables is not None:
        check_missing_readable(conn, target, missing_tables(live, expected_tables))
    return live


def missing_tables(
    live: Snapshot, expected_tables: frozenset[tuple[str | None, str]]
) -> list[tuple[str, str]]:
    """The expected tables `live` watches and does not hold, by their names in the database."""
    have = {t.key for t in live.tables}
    return [
        (str(schema or live.default_schema), name)
        for schema, name in sorted(expected_tables, key=lambda k: (k[0] or "", k[1]))
        if live.scope.watches(schema, name) and (schema, name) not in have
    ]


async def probe_missing_tables(
    engine: AsyncEngine, target: Target, missing: list[tuple[str, str]]
) -> None:
    """Raise PrivilegeError if the user may not see one of the `missing` tables: on a
    connection of its own, for a live snapshot read before the expected tables were known."""
    with translate_errors(target):
        async with asyncio.timeout(target.timeouts.check_timeout_seconds):
            conn = await connect(engine, target)
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.run_sync(check_missing_readable, target, missing)
                return
            finally:
                await conn.close()


def _catalog_diffs(
    conn: Connection, target: Target, metadata: MetaData, scope: Scope, filters: ProjectFilters
) -> list[Any]:
    """Enum labels and CHECK constraints of the watched tables, which alembic leaves out."""
    dialect = conn.dialect
    default_schema = dialect.default_schema_name
    tables = [
        t
        for t in metadata.tables.values()
        if scope.selects(t, default_schema) and _filtered_in(t, filters, default_schema)
    ]
    uses = native_enum_uses(tables, dialect, default_schema) if target.compare.compare_type else []
    keys = [(local_schema(t.schema, default_schema), t.name) for t in tables]
    live = read_catalog(
        conn,
        enum_schemas=enum_schemas(uses, default_schema),
        check_schemas=scope.schema_names(default_schema),
        tables=keys,
    )
    blind = schemas_without_live_checks(tables, live, dialect, default_schema)
    named = {schema or default_schema for schema in blind}
    narrow = schemas_granted_table_by_table(conn, (s for s in named if s is not None))
    if narrow:
        # a user granted table by table: information_schema showed it no constraint at all
        from_ddl = read_checks(conn, (), keys, table_by_table=narrow)
        live = replace(live, checks={**live.checks, **from_ddl})
    return catalog_diffs(tables, uses, live, dialect, default_schema)


def _filtered_in(table: Table, filters: ProjectFilters, default_schema: str | None) -> bool:
    """Whether the project's filters let alembic compare the models' `table` (asked as for
    a table alembic has not reflected: these comparisons read the catalog, not a Table)."""
    schema = local_schema(table.schema, default_schema)
    if filters.include_name is not None:
        qualified = f"{schema}.{table.name}" if schema else table.name
        parents = {"schema_name": schema, "schema_qualified_table_name": qualified}
        if not filters.include_name(schema, "schema", {}) or not filters.include_name(
            table.name, "table", parents
        ):
            return False
    include_object = filters.include_object
    return include_object is None or include_object(table, table.name, "table", False, None)


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
    engine: AsyncEngine,
    target: Target,
    metadata: MetaData | None,
    decide: Decide,
    *,
    fingerprint: bool = True,
    expected_tables: frozenset[tuple[str | None, str]] | None = None,
    expected_schemas: tuple[str | None, ...] = (),
    snapshot: bool = False,
    filters: ProjectFilters | None = None,
    wait_out_migration: bool = True,
) -> Observation:
    """Read heads and fingerprint; when `decide` says so, read the live schema: a snapshot
    when `expected_tables` (the tables the expected state holds, schema None the default)
    is given, the comparison then running after the connection is closed; else alembic's
    comparison runs here. A saved snapshot as the expected state needs no `metadata`: its
    `expected_schemas` are watched as the models' would be. `snapshot=True` reads the
    snapshot before the expected tables are known (they are still being loaded): the caller
    then probes the missing ones.

    `filters` are the project's env.py filters, asked by alembic's comparison (a snapshot
    comparison asks them in its diff).

    `fingerprint=False` is for a check nobody will compare a later one with (`driftwatch
    check`): no fingerprint is read, which on MariaDB is a tenth of a full check's time.

    One connection in autocommit mode: every statement is its own read-only transaction, so
    the catalog locks reflection takes are released statement by statement and a migration's
    ALTER TABLE never queues behind a whole comparison. The version table and the fingerprint
    are read again after a comparison; if DDL moved the fingerprint meanwhile, the comparison
    may mix before and after, so the observation carries no fingerprint and the next tick
    compares again.

    A migration seen running makes the observation `migrating` and keeps nothing of the
    schema (the next check decides): on PostgreSQL a migration holding the version table
    (PG_MIGRATING, read with the heads: no extra round trip), on every dialect the version
    table's rows changing between the reads before and after the comparison. When the first
    read sees it, no comparison is run. `wait_out_migration=False` (a migration seen for too
    long) compares and keeps what it read despite PG_MIGRATING, which is then only reported
    (`migration_seen`); rows moving during the comparison still make it `migrating`.
    """

    def visit(conn: Connection) -> Observation:
        default_schema = conn.dialect.default_schema_name
        scope = watched_scope(target, metadata, default_schema, expected_schemas)
        watched = scope.schema_names(default_schema)
        names = watched if fingerprint else []
        if names and metadata is not None and conn.dialect.name == "postgresql":
            names = sorted({*names, *explicit_enum_schemas(metadata)})
        first = read_heads_and_fingerprint(conn, target, names, watched)
        heads, before, seen = first.heads, first.fingerprint, first.migrating
        migrating = seen and wait_out_migration
        diffs = None
        live = None
        wants_snapshot = expected_tables is not None or snapshot
        if not migrating and (metadata is not None or wants_snapshot) and decide(heads, before):
            if wants_snapshot:
                live = read_live_snapshot(conn, target, scope, expected_tables)
            elif metadata is not None:
                diffs = compare_schema(conn, target, metadata, scope, filters)
            last = read_heads_and_fingerprint(conn, target, names, watched)
            seen = seen or last.migrating
            migrating = (last.migrating and wait_out_migration) or last.heads != heads
            heads = last.heads
            if names and last.fingerprint != before:
                before = None
        if migrating:
            diffs, live, before = None, None, None
        return Observation(
            database_heads=heads,
            fingerprint=before,
            diffs=diffs,
            snapshot=live,
            dialect=conn.dialect,
            default_schema=default_schema,
            migrating=migrating,
            migration_seen=seen or migrating,
        )

    with translate_errors(target):
        async with asyncio.timeout(target.timeouts.check_timeout_seconds):
            conn = await connect(engine, target)
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await conn.run_sync(visit)
            finally:
                await conn.close()
    raise AssertionError("unreachable")  # pragma: no cover - translate_errors always raises


async def read_live(engine: AsyncEngine, target: Target, metadata: MetaData | None) -> Snapshot:
    """The live schema in the scope a check of `target` with these models reads (the version
    table left out), on the same read-only, time-bounded connection (`driftwatch snapshot
    live`)."""

    def visit(conn: Connection) -> Snapshot:
        scope = watched_scope(target, metadata, conn.dialect.default_schema_name)
        return read_live_snapshot(conn, target, scope, frozenset())

    with translate_errors(target):
        async with asyncio.timeout(target.timeouts.check_timeout_seconds):
            conn = await connect(engine, target)
            try:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                snapshot: Snapshot = await conn.run_sync(visit)
                return snapshot
            finally:
                await conn.close()
    raise AssertionError("unreachable")  # pragma: no cover - translate_errors always raises


async def connect(engine: AsyncEngine, target: Target) -> AsyncConnection:
    """A connection with its session set up, within the target's connect timeout.

    The drivers' own timeouts do not cover everything: aiomysql bounds the TCP connect only,
    not a server that accepts and never sends its greeting, and asyncpg's did not fire on
    such a server either. Every timeout in this phase is the connect timeout.
    """
    try:
        async with asyncio.timeout(target.timeouts.connect_timeout_seconds):
            return await engine.connect()
    except Exception as exc:
        # ours is a bare TimeoutError; a driver's may come wrapped (aiomysql's in an
        # OperationalError, itself in SQLAlchemy's)
        if isinstance(exc, TimeoutError) or isinstance(root_cause(exc), TimeoutError):
            raise ConnectTimeoutError from None
        raise
