"""driftwatch against the catalog floor and alembic's comparison, measured in the same run.

For each size, the script creates a throwaway database (driftwatch_bench_<N>_<random>)
holding N generated tables (mixed column types, a primary key, indexes, foreign keys to
earlier tables, a unique constraint, comments on some), stamps it with a one-revision
alembic scripts folder, caches the models' snapshot in a temporary folder, and measures:

  floor: 4 catalog queries        connect, four whole-catalog queries (relations, columns,
                                  constraints, indexes, with the server's deparsed types
                                  and definitions), close: the minimum any catalog
                                  comparison must read, the base of every `vs floor`
  snapshot read alone             connect, read_snapshot, close
  driftwatch check (models cached)  check_target as `driftwatch check` runs it: new expected
                                  states whose models' snapshot comes from the disk cache
  daemon full check               check_target(max_age_seconds=...): models in memory, the
                                  fingerprint read before and after
  diff alone                      compare_models of the models' and the live snapshot
  alembic compare_metadata        what `alembic check` runs, on a fresh connection
  steady-state tick               the daemon's tick, nothing moved (it must be a PROBE)
  probe alone (connect + query)   the change probe as a tick would need it
  probe query alone               the probe query on a connection already open

Each row gives the median and min seconds over --repeat runs, the statements sent, the wire
round trips (a TCP relay in a separate untimed run, connection set-up included), the peak
Python memory (tracemalloc, in another separate run) and ratios to the floor and to
alembic; the lines below say which goals of issue 10 (item 7) are met. Both sides use the
same async driver (asyncpg, aiomysql, aiosqlite).

    .venv/bin/python bench/steady_state.py --tables 1000 5000 --repeat 3
    .venv/bin/python bench/steady_state.py --dialect mysql --tables 300 1000
    .venv/bin/python bench/steady_state.py --dialect sqlite --tables 300 1000

The throwaway databases are dropped at the end, also on Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import alembic
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, CreateTable, SetColumnComment, SetTableComment

import driftwatch
from driftwatch.check import check_target
from driftwatch.compare.diff import DiffOptions
from driftwatch.compare.models import compare_models
from driftwatch.config.settings import Comparison, Timeouts
from driftwatch.config.targets import ASYNC_DRIVERS, Target
from driftwatch.expected.cache import SnapshotCache, cache_key
from driftwatch.expected.models_key import models_key
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.sources import Expected, load_expected
from driftwatch.expected.states import (
    ExpectedStates,
    models_scope,
    replay_plan,
    replay_scope,
    scratch_identity,
    scripts_key,
)
from driftwatch.gc_pause import paused_gc
from driftwatch.live.observe import make_engine
from driftwatch.live.probe import read_fingerprint
from driftwatch.live.snapshot import read_snapshot
from driftwatch.report import CheckKind, TargetReport
from driftwatch.snapshot import Scope as SnapshotScope
from driftwatch.snapshot import Snapshot

DEFAULT_URLS = {
    "postgresql": (
        "DRIFTWATCH_BENCH_POSTGRES_URL",
        "postgresql://postgres@127.0.0.1:5432/postgres",
    ),
    "mysql": ("DRIFTWATCH_BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"),
}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
REVISION = "bench0001"
TABLES_PER_BATCH = 100  # a batch is one transaction on PostgreSQL: keep its locks bounded
MIB = 1024 * 1024


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


# --- the generated schema ---------------------------------------------------------------

WORDS = (
    "account", "invoice", "order", "product", "customer", "shipment", "payment", "address",
    "supplier", "warehouse", "ticket", "session", "audit", "price", "coupon", "review",
)  # fmt: skip

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    tables: int
    columns: int
    indexes: int
    uniques: int
    foreign_keys: int
    comments: int

    def __str__(self) -> str:
        return (
            f"{self.tables} tables, {self.columns} columns, {self.indexes} indexes, "
            f"{self.uniques} unique constraints, {self.foreign_keys} foreign keys, "
            f"{self.comments} comments"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class MetaDataAndShape:
    metadata: sa.MetaData
    shape: Shape


def _optional_columns(rng: random.Random) -> list[sa.Column[Any]]:
    pool: list[Callable[[], sa.Column[Any]]] = [
        lambda: sa.Column("description", sa.Text()),
        lambda: sa.Column("amount", sa.Numeric(12, 2)),
        lambda: sa.Column("quantity", sa.Integer(), nullable=False, server_default="0"),
        lambda: sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
        lambda: sa.Column("valid_from", sa.Date()),
        lambda: sa.Column("external_id", sa.BigInteger()),
        lambda: sa.Column("notes", sa.String(500)),
    ]
    return [make() for make in rng.sample(pool, k=rng.randint(1, 4))]


def build_metadata(tables: int, dialect: str, seed: int = 0) -> MetaDataAndShape:
    """N tables, each FK pointing at an earlier table, so creation order is table order."""
    rng = random.Random(seed)
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    timestamp = sa.DateTime(timezone=dialect == "postgresql")
    names: list[str] = []
    for i in range(tables):
        word = WORDS[i % len(WORDS)]
        name = f"t{i:05d}_{word}"
        columns: list[Any] = [
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("code", sa.String(40), nullable=False),
            sa.Column(
                "name",
                sa.String(rng.choice((64, 120, 255))),
                nullable=False,
                index=True,
                comment=f"display name of the {word}" if i % 3 == 0 else None,
            ),
            sa.Column(
                "created_at",
                timestamp,
                nullable=False,
                server_default=sa.text("CURRENT_TIMESTAMP"),
            ),
            *_optional_columns(rng),
        ]
        if names:
            for k in range(rng.choice((0, 1, 1, 2))):
                parent = rng.choice(names)
                columns.append(
                    sa.Column(
                        f"ref{k}_id",
                        sa.Integer(),
                        sa.ForeignKey(f"{parent}.id", ondelete=rng.choice((None, "CASCADE"))),
                        nullable=rng.random() < 0.5,
                        index=True,  # as most projects do; MySQL would add one anyway
                    )
                )
        columns.append(sa.UniqueConstraint("code"))
        if i % 5 == 0:
            columns.append(sa.Index(None, "name", "created_at"))
        sa.Table(
            name,
            metadata,
            *columns,
            comment=f"generated {word} records" if i % 4 == 0 else None,
        )
        names.append(name)
    all_tables = list(metadata.tables.values())
    shape = Shape(
        tables=len(all_tables),
        columns=sum(len(t.columns) for t in all_tables),
        indexes=sum(len(t.indexes) for t in all_tables),
        uniques=sum(isinstance(c, sa.UniqueConstraint) for t in all_tables for c in t.constraints),
        foreign_keys=sum(len(t.foreign_key_constraints) for t in all_tables),
        comments=sum(bool(t.comment) for t in all_tables)
        + sum(bool(c.comment) for t in all_tables for c in t.columns),
    )
    return MetaDataAndShape(metadata, shape)


DDL_DIALECTS: dict[str, Callable[[], Dialect]] = {
    "postgresql": PGDialect,
    "mysql": MySQLDialect,
    "sqlite": SQLiteDialect,
}


def ddl_batches(metadata: sa.MetaData, dialect_name: str) -> list[list[str]]:
    """CREATE TABLE / CREATE INDEX / COMMENT ON statements, grouped by TABLES_PER_BATCH tables."""
    dialect = DDL_DIALECTS[dialect_name]()
    batches: list[list[str]] = []
    for i, table in enumerate(metadata.tables.values()):
        if i % TABLES_PER_BATCH == 0:
            batches.append([])
        statements = [str(CreateTable(table).compile(dialect=dialect)).strip()]
        statements += [
            str(CreateIndex(index).compile(dialect=dialect)).strip()
            for index in sorted(table.indexes, key=lambda ix: str(ix.name))
        ]
        if dialect.supports_comments and not dialect.inline_comments:
            if table.comment:
                statements.append(str(SetTableComment(table).compile(dialect=dialect)))
            statements += [
                str(SetColumnComment(column).compile(dialect=dialect))
                for column in table.columns
                if column.comment
            ]
        batches[-1].extend(statements)
    return batches


VERSION_TABLE_DDL = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)
VERSION_INSERT = f"INSERT INTO alembic_version (version_num) VALUES ('{REVISION}')"

REVISION_SCRIPT = f'''"""generated schema (created by bench/steady_state.py in batches)

Revision ID: {REVISION}
Revises:
"""

revision = "{REVISION}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def write_scripts(folder: Path) -> Path:
    """A scripts folder with the one revision the database is stamped with."""
    versions = folder / "versions"
    versions.mkdir(parents=True)
    (versions / f"{REVISION}_generated_schema.py").write_text(REVISION_SCRIPT, encoding="utf-8")
    return folder


def register_models(metadata: sa.MetaData, tables: int) -> str:
    """Make the metadata importable as `module:metadata`, as a Target names it, with a
    `module:create_all` replay bootstrap: the database is created from the models and
    stamped, so the one revision's migration creates nothing and the replay must start from
    what create_all makes (else every table would be drift, and unmigrated)."""
    module_name = f"driftwatch_bench_models_{tables}_{uuid.uuid4().hex[:6]}"
    module = types.ModuleType(module_name)
    module.metadata = metadata  # type: ignore[attr-defined]
    module.create_all = metadata.create_all  # type: ignore[attr-defined]
    sys.modules[module_name] = module
    return f"{module_name}:metadata"


# --- servers: throwaway databases -----------------------------------------------------


def pg_connect_args(url: URL) -> dict[str, Any]:
    """asyncpg.connect arguments; a `?host=/socket/dir` query (embedded servers) is honoured."""
    host = url.query.get("host") or url.host
    return {
        "host": host if isinstance(host, str) else None,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


def tcp_address(url: URL, dialect: str) -> tuple[str, int] | None:
    """Where the relay should forward to; None for a Unix socket (no round-trip count then)."""
    if "host" in url.query or "unix_socket" in url.query or dialect == "sqlite":
        return None
    return (url.host or "127.0.0.1", url.port or DEFAULT_PORTS[dialect])


@dataclasses.dataclass(slots=True)
class Server:
    """Where the throwaway databases go; tracks them so they are dropped whatever happens."""

    dialect: str
    admin_url: URL  # async driver
    workdir: Path
    created: list[str] = dataclasses.field(default_factory=list)

    def database_url(self, name: str) -> URL:
        if self.dialect == "sqlite":
            return make_url(f"sqlite+aiosqlite:///{self.workdir / (name + '.db')}")
        return self.admin_url.set(database=name)

    async def version(self) -> str:
        if self.dialect == "sqlite":
            return f"SQLite {sqlite3.sqlite_version}"
        rows = await self.admin([], fetch="SELECT version()")
        return str(rows[0][0]).split(" on ")[0] if rows else "?"

    async def admin(self, statements: list[str], *, fetch: str | None = None) -> list[Any]:
        url = self.admin_url
        if self.dialect == "postgresql":
            import asyncpg  # noqa: PLC0415

            conn = await asyncpg.connect(**pg_connect_args(url))
            try:
                for statement in statements:
                    await conn.execute(statement)
                return [tuple(r) for r in await conn.fetch(fetch)] if fetch else []
            finally:
                await conn.close()
        import aiomysql  # noqa: PLC0415

        conn = await aiomysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            autocommit=True,
        )
        try:
            async with conn.cursor() as cursor:
                for statement in statements:
                    await cursor.execute(statement)
                if fetch:
                    await cursor.execute(fetch)
                    return list(await cursor.fetchall())
                return []
        finally:
            conn.close()

    async def create(self, name: str) -> URL:
        self.created.append(name)
        if self.dialect != "sqlite":
            await self.admin([f"CREATE DATABASE {name}"])
        return self.database_url(name)

    async def drop(self, name: str) -> None:
        if self.dialect == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                (self.workdir / f"{name}.db{suffix}").unlink(missing_ok=True)
        elif self.dialect == "postgresql":
            await self.admin([f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        else:
            await self.admin([f"DROP DATABASE IF EXISTS {name}"])
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    async def load(self, url: URL, batches: list[list[str]]) -> None:
        """Run the DDL batches and stamp the version table."""
        stamp = [VERSION_TABLE_DDL, VERSION_INSERT]
        if self.dialect == "sqlite":
            path = url.database or ""
            with contextlib.closing(sqlite3.connect(path)) as conn:
                script = ";\n".join(s for batch in batches for s in batch) + ";\n"
                conn.executescript(f"BEGIN;\n{script}{';'.join(stamp)};\nCOMMIT;")
            return
        if self.dialect == "postgresql":
            import asyncpg  # noqa: PLC0415

            conn = await asyncpg.connect(**pg_connect_args(url))
            try:
                for batch in [*batches, stamp]:
                    # several statements in one simple query: one round trip, one transaction
                    await conn.execute(";\n".join(batch))
            finally:
                await conn.close()
            return
        import aiomysql  # noqa: PLC0415

        conn = await aiomysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            db=url.database,
            autocommit=True,
        )
        try:
            async with conn.cursor() as cursor:
                with warnings.catch_warnings():
                    # MySQL ignores a primary key's name and says so: expected, not news
                    warnings.simplefilter("ignore")
                    for statement in [s for batch in batches for s in batch] + stamp:
                        await cursor.execute(statement)  # each DDL statement commits anyway
        finally:
            conn.close()


# --- counting: statements and wire round trips ---------------------------------------


class Counters:
    statements = 0


def _count_statement(*_args: Any) -> None:
    Counters.statements += 1


def count_statements(engine: Any) -> None:
    event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)


def _counting_make_engine(target: Target) -> Any:
    engine = make_engine(target)
    count_statements(engine)
    return engine


class WireCounter:
    """A TCP relay that counts round trips: each time the client speaks after the server did.

    Connection setup (TLS negotiation, startup, authentication) counts like any request.
    """

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.turns = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, client_reader: Any, client_writer: Any) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.close()
            return
        last = ["server"]  # MySQL greets first; PostgreSQL clients speak first: both count

        async def pump(reader: Any, writer: Any, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    if side == "client" and last[0] != "client":
                        self.turns += 1
                    last[0] = side
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(
            pump(client_reader, upstream_writer, "client"),
            pump(upstream_reader, client_writer, "server"),
        )


# --- the measured operations ------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Sample:
    seconds: float
    statements: int
    turns: int | None = None
    peak_bytes: int | None = None


class Meter:
    """Measures the region inside `async with meter:` (time, statements, turns, memory)."""

    def __init__(self, *, wire: WireCounter | None, memory: bool) -> None:
        self.wire = wire
        self.memory = memory
        self.sample: Sample | None = None

    async def __aenter__(self) -> Meter:
        gc.collect()
        Counters.statements = 0
        if self.wire is not None:
            self.wire.turns = 0
        if self.memory:
            tracemalloc.reset_peak()
            self._base = tracemalloc.get_traced_memory()[0]
        self._started = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self._started
        statements = Counters.statements
        peak = tracemalloc.get_traced_memory()[1] - self._base if self.memory else None
        turns = None
        if self.wire is not None:
            await asyncio.sleep(0.05)  # let the relay forward the last (closing) messages
            turns = self.wire.turns
        self.sample = Sample(seconds, statements, turns, peak)


@dataclasses.dataclass(slots=True)
class Setup:
    """One size's database, seen directly or through the relay."""

    url: URL
    target: Target
    expected: Expected
    metadata: sa.MetaData
    cache_dir: Path  # where the models' snapshot is cached on disk (built once, in setup)
    states: ExpectedStates  # the daemon's: the models' snapshot kept in memory
    models: Snapshot  # the models' snapshot, for the diff row
    live: Snapshot | None = None  # the live snapshot, read by the snapshot row
    full_report: TargetReport | None = None  # the latest full report, `previous` for ticks
    alembic_diffs: int | None = None
    tick_engine: AsyncEngine | None = None  # kept across ticks, as the daemon keeps one
    probe_engine: AsyncEngine | None = None  # the same for the probe alone


Operation = Callable[[Setup, Meter], Awaitable[None]]

# the minimum any catalog comparison must read: every relation, column, constraint and index
# of the watched schema, with the server's deparsed types and definitions, as plain rows
FLOOR_QUERIES = {
    "postgresql": (
        "SELECT c.oid, c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
        "AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')",
        "SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
        "a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
        "AND c.relkind IN ('r', 'p', 'f', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT k.conrelid, k.conname, k.contype, pg_get_constraintdef(k.oid) "
        "FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
        "WHERE n.nspname = 'public'",
        "SELECT i.indrelid, i.indexrelid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public'",
    ),
    "mysql": (
        "SELECT TABLE_NAME, TABLE_TYPE, TABLE_COMMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE()",
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
        "COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()",
        "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, "
        "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE TABLE_SCHEMA = DATABASE()",
        "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
    ),
    "sqlite": (
        "SELECT type, name, tbl_name, sql FROM sqlite_master",
        "SELECT m.name, p.* FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table'",
        "SELECT m.name, p.* FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) p "
        "WHERE m.type = 'table'",
        "SELECT m.name, p.* FROM sqlite_master m JOIN pragma_index_list(m.name) p "
        "WHERE m.type = 'table'",
    ),
}


def _require_success(report: TargetReport, what: str) -> None:
    if report.error is not None:
        raise BenchError(f"{what} failed: {report.error}")


def _fresh_states(cache_dir: Path) -> ExpectedStates:
    """What one `driftwatch check` run makes: nothing in memory, the disk cache filled."""
    return ExpectedStates(
        scratch=ScratchServers(cache_dir=cache_dir, embedded=False), cache=SnapshotCache(cache_dir)
    )


async def _kept_engine(setup: Setup, attribute: str) -> AsyncEngine:
    """driftwatch's engine for the target, made and set up once (as the daemon keeps it)."""
    engine: AsyncEngine | None = getattr(setup, attribute)
    if engine is None:
        engine = _counting_make_engine(setup.target)
        async with engine.connect():
            pass  # the dialect's one-time set-up, outside every meter
        setattr(setup, attribute, engine)
    return engine


async def op_floor(setup: Setup, meter: Meter) -> None:
    """Connect, the four whole-catalog queries (every row fetched), close."""
    queries = FLOOR_QUERIES[setup.target.dialect]

    def read(conn: Connection) -> int:
        # the collector paused, as driftwatch's readers do: the floor at its lowest
        with paused_gc():
            return sum(len(conn.exec_driver_sql(query).all()) for query in queries)

    async with meter:
        engine = _counting_make_engine(setup.target)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.run_sync(read)
        finally:
            await engine.dispose()


async def op_snapshot(setup: Setup, meter: Meter) -> None:
    """Connect, `read_snapshot` of the watched scope (tuples to a frozen Snapshot), close."""
    scope = SnapshotScope(exclude=("alembic_version",))
    async with meter:
        engine = _counting_make_engine(setup.target)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                setup.live = await conn.run_sync(read_snapshot, scope)
        finally:
            await engine.dispose()


async def op_check(setup: Setup, meter: Meter) -> None:
    """`driftwatch check`: new expected states (the models' snapshot read from the disk
    cache), heads and the live snapshot on a new engine, the diff; no fingerprint."""
    async with meter:
        states = _fresh_states(setup.cache_dir)
        engine = _counting_make_engine(setup.target)  # a new engine, as a new process makes
        try:
            report = await check_target(
                setup.target, expected=setup.expected, states=states, engine=engine
            )
        finally:
            await engine.dispose()
            await states.close()
    _require_success(report, "the driftwatch check")
    if report.check_kind is not CheckKind.FULL or report.fingerprint is not None:
        raise BenchError(f"the check reported {report.check_kind}, {report.fingerprint}")
    if report.schema is None or report.schema.method != "replay":
        raise BenchError(f"the check did not compare snapshots: {report.schema!r:.300}")
    if not report.schema.in_sync:
        findings = report.schema.findings
        print(f"  note: driftwatch reports {len(findings)} finding(s): {findings[:1]!r:.300}")


async def op_full(setup: Setup, meter: Meter) -> None:
    """The daemon's full check: the models' snapshot in memory, the fingerprint read before
    and after the live snapshot so that later ticks can stand on it."""
    async with meter:
        engine = _counting_make_engine(setup.target)
        try:
            report = await check_target(
                setup.target,
                expected=setup.expected,
                max_age_seconds=3600,
                states=setup.states,
                engine=engine,
            )
        finally:
            await engine.dispose()
    _require_success(report, "the daemon's full check")
    if report.check_kind is not CheckKind.FULL or report.fingerprint is None:
        raise BenchError(f"the full check reported {report.check_kind}, {report.fingerprint}")
    setup.full_report = report


async def op_diff(setup: Setup, meter: Meter) -> None:
    """`compare_models` of the models' snapshot and the live one: pure, no I/O."""
    if setup.live is None:
        raise BenchError("the diff needs the live snapshot")
    live = setup.live
    options = DiffOptions(compare_type=True, compare_server_default=False)
    async with meter:
        findings, _notes = compare_models(setup.models, live, options)
    if findings:
        print(f"  note: the diff found {len(findings)} finding(s), e.g. {findings[0]!r:.300}")


async def op_alembic(setup: Setup, meter: Meter) -> None:
    """alembic's own comparison, as `alembic check` runs it, on a fresh connection."""

    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, setup.metadata)

    async with meter:
        engine = create_async_engine(setup.url, poolclass=NullPool)
        count_statements(engine)
        try:
            async with engine.connect() as conn:
                diffs = await conn.run_sync(compare)
        finally:
            await engine.dispose()
    setup.alembic_diffs = len(diffs)
    if diffs:
        print(f"  note: alembic reports {len(diffs)} diff(s), e.g. {diffs[0]!r:.200}")


async def op_tick(setup: Setup, meter: Meter) -> None:
    """A daemon tick in the steady state: heads and the change probe, nothing moved."""
    if setup.full_report is None:
        raise BenchError("a tick needs a full report to start from")
    engine = await _kept_engine(setup, "tick_engine")
    async with meter:
        report = await check_target(
            setup.target,
            expected=setup.expected,
            previous=setup.full_report,
            max_age_seconds=3600,
            engine=engine,
            states=setup.states,
        )
    _require_success(report, "the driftwatch steady-state tick")
    if report.check_kind is not CheckKind.PROBE:
        raise BenchError(
            f"the steady-state tick reported {report.check_kind}, not PROBE: the fingerprint "
            f"or the heads changed with no schema change ({setup.full_report.fingerprint} -> "
            f"{report.fingerprint})"
        )


def _probe(conn: Connection) -> str:
    schema = conn.dialect.default_schema_name
    return read_fingerprint(conn, [schema] if schema else [])


async def op_probe(setup: Setup, meter: Meter) -> None:
    """The change probe alone as a tick would need it: connect (the kept engine, as the
    daemon's), the probe query in autocommit, close. The base of the tick's ratio."""
    engine = await _kept_engine(setup, "probe_engine")
    async with meter, engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.run_sync(_probe)


async def op_probe_query(setup: Setup, meter: Meter) -> None:
    """The probe query alone, on a connection already open (its connect not counted)."""
    engine = await _kept_engine(setup, "probe_engine")
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.run_sync(lambda c: None)
        async with meter:
            await conn.run_sync(_probe)


async def op_connect(setup: Setup, meter: Meter) -> None:
    """A new driftwatch engine: connect (session guard, the dialect's first set-up), close."""
    async with meter:
        engine = _counting_make_engine(setup.target)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()


OPERATIONS: list[tuple[str, str, Operation]] = [
    ("floor", "floor: 4 catalog queries", op_floor),
    ("snapshot", "snapshot read alone", op_snapshot),
    ("check", "driftwatch check (models cached)", op_check),
    ("full", "daemon full check", op_full),
    ("diff", "diff alone", op_diff),
    ("alembic", "alembic compare_metadata", op_alembic),
    ("tick", "steady-state tick", op_tick),
    ("probe", "probe alone (connect + query)", op_probe),
    ("probe_query", "probe query alone", op_probe_query),
    ("connect", "connect alone (new engine)", op_connect),
]


async def run_pass(setup: Setup, *, wire: WireCounter | None, memory: bool) -> dict[str, Sample]:
    samples: dict[str, Sample] = {}
    for key, _label, operation in OPERATIONS:
        meter = Meter(wire=wire, memory=memory)
        await operation(setup, meter)
        if meter.sample is None:
            raise BenchError(f"{key}: nothing was measured")
        samples[key] = meter.sample
    return samples


# --- one size -----------------------------------------------------------------------------


def _fmt_ratio(value: float) -> str:
    return f"{value:.3g}x" if value >= 0.001 else f"{value:.2g}x"


def _fmt_seconds(value: float) -> str:
    return f"{value:.4f}" if value < 10 else f"{value:.2f}"


# the goals of issue 10, item 7 (stated for PostgreSQL at 5000 tables; shown at every size)
GOALS = (
    ("check/floor", "check", "floor", 2.0),
    ("diff/floor", "diff", "floor", 0.3),
    ("tick/probe", "tick", "probe", 1.2),
)
MAX_CHECK_ROUND_TRIPS = 10
MAX_CHECK_PEAK_MIB = 200
MIN_CHECK_SPEEDUP = 10.0


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_table(
    timed: dict[str, list[Sample]], wire: dict[str, Sample] | None, memory: dict[str, Sample]
) -> None:
    header = (
        f"  {'':34} {'median s':>9} {'min s':>9} {'statements':>10} {'round trips':>11} "
        f"{'peak MiB':>9} {'vs floor':>9} {'vs alembic':>10}"
    )
    print(header)
    medians = {k: statistics.median(s.seconds for s in v) for k, v in timed.items()}
    peaks = {k: (memory[k].peak_bytes or 0) / MIB for k in memory}
    for key, label, _op in OPERATIONS:
        runs = timed[key]
        turns = "n/a" if wire is None else str(wire[key].turns)
        print(
            f"  {label:34} {_fmt_seconds(medians[key]):>9} "
            f"{_fmt_seconds(min(s.seconds for s in runs)):>9} {runs[-1].statements:>10} "
            f"{turns:>11} {peaks[key]:>9.2f} {_fmt_ratio(medians[key] / medians['floor']):>9} "
            f"{_fmt_ratio(medians[key] / medians['alembic']):>10}"
        )
    parts = []
    for name, key, base, limit in GOALS:
        ratio = medians[key] / medians[base]
        parts.append(f"{name} = {_fmt_ratio(ratio)} (<= {limit}x: {_verdict(ratio <= limit)})")
    print(f"  time (median):    {'   '.join(parts)}")
    speedup = medians["alembic"] / medians["check"]
    tick_query = medians["tick"] / medians["probe_query"]
    print(
        f"  vs alembic:       alembic/check = {_fmt_ratio(speedup)} "
        f"(>= {MIN_CHECK_SPEEDUP:g}x: {_verdict(speedup >= MIN_CHECK_SPEEDUP)})   "
        f"full/alembic = {_fmt_ratio(medians['full'] / medians['alembic'])}   "
        f"tick/probe query = {_fmt_ratio(tick_query)}"
    )
    print(
        f"  peak memory:      check = {peaks['check']:.1f} MiB "
        f"(<= {MAX_CHECK_PEAK_MIB} MiB: {_verdict(peaks['check'] <= MAX_CHECK_PEAK_MIB)})   "
        f"alembic = {peaks['alembic']:.1f} MiB   "
        f"check/alembic = {_fmt_ratio(peaks['check'] / max(peaks['alembic'], 1e-9))}"
    )
    if wire is not None:
        trips = wire["check"].turns
        print(
            f"  round trips:      check = {trips} (<= {MAX_CHECK_ROUND_TRIPS}: "
            f"{_verdict(trips <= MAX_CHECK_ROUND_TRIPS)}), of which connecting "
            f"{wire['connect'].turns}   snapshot = {wire['snapshot'].turns}   "
            f"floor = {wire['floor'].turns}   alembic = {wire['alembic'].turns}   "
            f"tick/probe = {wire['tick'].turns}/{wire['probe'].turns}"
        )


async def prepare(
    server: Server, target: Target, cache_dir: Path, *, build: bool
) -> tuple[ExpectedStates, Snapshot, str]:
    """Fill the disk cache with the models' snapshot; return the daemon's states holding it.

    `build`: as driftwatch builds it on a cache miss, in a scratch database it creates and
    drops on the same server (one statement at a time: minutes at 5000 tables). Otherwise
    the snapshot is read from the benchmark's own database, which the same DDL made, and
    stored under the key driftwatch computes: the same content, in seconds.
    """
    states = ExpectedStates(
        scratch=ScratchServers(cache_dir=cache_dir, embedded=False), cache=SnapshotCache(cache_dir)
    )
    expected = await asyncio.to_thread(load_expected, target)
    if expected.metadata is None:
        raise BenchError("the generated models did not load")
    how = "built in a scratch database"
    if not build:
        how = "read from the benchmark database"
        key = cache_key(
            "models",
            models_key(expected.metadata, target.dialect),
            scratch_identity(target.dialect, target.scratch_url),
        )
        engine = create_async_engine(target.url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                scope = dataclasses.replace(
                    models_scope(expected.metadata), exclude=("alembic_version",)
                )
                snapshot = await conn.run_sync(read_snapshot, scope)
        finally:
            await engine.dispose()
        states.cache.put(key, dataclasses.replace(snapshot, scope=models_scope(expected.metadata)))
        # the replay's states too: the bootstrap's create_all and an empty revision make the
        # same schema, at the database's revision and at the head
        plan = replay_plan(target, expected)
        if plan is None:
            raise BenchError("the generated scripts did not load")
        base = scripts_key(plan)
        identity = scratch_identity(target.dialect, target.scratch_url)
        replayed = dataclasses.replace(snapshot, scope=replay_scope(plan))
        for at in (",".join(sorted(expected.scripts.heads)), "<heads>"):
            states.cache.put(cache_key("revision", base, target.dialect, identity, at), replayed)
    state = await states.models(expected.metadata, target.dialect, target.scratch_url)
    if state.snapshot is None:
        raise BenchError(f"no models' snapshot: {state.unavailable}")
    return states, state.snapshot, how


async def bench_size(  # noqa: PLR0912, PLR0915 - one size's whole story, in order
    server: Server, tables: int, repeat: int, seed: int, *, build: bool
) -> None:
    generated = build_metadata(tables, server.dialect, seed)
    print(f"\n== {tables} tables: {generated.shape} ==", flush=True)
    name = f"driftwatch_bench_{tables}_{uuid.uuid4().hex[:8]}"
    folder = server.workdir / name
    states: ExpectedStates | None = None
    setup: Setup | None = None
    try:
        clock = time.perf_counter()
        url = await server.create(name)
        await server.load(url, ddl_batches(generated.metadata, server.dialect))
        created = time.perf_counter() - clock

        models_path = register_models(generated.metadata, tables)
        target = Target(
            name="bench",
            url=url,
            script_location=str(write_scripts(folder / "scripts")),
            metadata=(models_path,),
            replay_bootstrap=models_path.replace(":metadata", ":create_all"),
            compare=Comparison(comparison="snapshot"),
            scratch_url=None if server.dialect == "sqlite" else server.admin_url,
            timeouts=Timeouts(check_timeout_seconds=3600, statement_timeout_seconds=600),
        )
        clock = time.perf_counter()
        expected = load_expected(target)
        cache_dir = folder / "cache"
        states, models, how = await prepare(server, target, cache_dir, build=build)
        built = time.perf_counter() - clock
        print(
            f"  setup: database {name} created and filled in {created:.1f} s; the models' "
            f"snapshot {how} and cached in {built:.1f} s",
            flush=True,
        )
        setup = Setup(
            url=url,
            target=target,
            expected=expected,
            metadata=generated.metadata,
            cache_dir=cache_dir,
            states=states,
            models=models,
        )

        wire_samples: dict[str, Sample] | None = None
        address = tcp_address(url, server.dialect)
        if address is None:
            await run_pass(setup, wire=None, memory=False)  # warm-up (lazy imports, caches)
        else:
            # first pass through the relay: counts round trips, and warms up
            relay = WireCounter(*address)
            port = await relay.start()
            relayed_url = url.set(host="127.0.0.1", port=port)
            relayed = dataclasses.replace(
                setup, url=relayed_url, target=dataclasses.replace(target, url=relayed_url)
            )
            try:
                wire_samples = await run_pass(relayed, wire=relay, memory=False)
                setup.full_report = relayed.full_report
                setup.live = relayed.live
            finally:
                for engine in (relayed.tick_engine, relayed.probe_engine):
                    if engine is not None:
                        await engine.dispose()
                await relay.close()

        tracemalloc.start()
        try:
            memory_samples = await run_pass(setup, wire=None, memory=True)
        finally:
            tracemalloc.stop()

        timed: dict[str, list[Sample]] = {key: [] for key, _l, _o in OPERATIONS}
        for _ in range(repeat):
            for key, sample in (await run_pass(setup, wire=None, memory=False)).items():
                timed[key].append(sample)
        full = setup.full_report
        findings = len(full.schema.findings) if full and full.schema else "?"
        print(
            f"  results: alembic reports {setup.alembic_diffs} diff(s); driftwatch "
            f"{full.status().value if full else '?'} ({findings} finding(s)); "
            f"{repeat} timed run(s) of each",
            flush=True,
        )
        print_table(timed, wire_samples, memory_samples)
    finally:
        if setup is not None:
            for engine in (setup.tick_engine, setup.probe_engine):
                if engine is not None:
                    await engine.dispose()
        if states is not None:
            await states.close()
        await server.drop(name)
        shutil.rmtree(folder, ignore_errors=True)


def driftwatch_revision() -> str:
    """The commit measured, and whether driftwatch/ had uncommitted changes then."""
    repo = Path(driftwatch.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "driftwatch")
    except (OSError, subprocess.CalledProcessError):
        return f"driftwatch {driftwatch.__version__}"
    return f"driftwatch {commit}" + (" + uncommitted changes in driftwatch/" if dirty else "")


async def run(args: argparse.Namespace, server: Server) -> None:
    print(
        f"driftwatch benchmark: {await server.version()}; {driftwatch_revision()}; "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"alembic {alembic.__version__}, driver {server.admin_url.drivername} (both sides); "
        f"{os.cpu_count()} CPU(s)"
    )
    for tables in args.tables:
        await bench_size(server, tables, args.repeat, args.seed, build=args.build_models)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument(
        "--dialect", choices=("postgresql", "mysql", "sqlite"), default="postgresql"
    )
    parser.add_argument(
        "--url",
        help="server to create throwaway databases on (default: $DRIFTWATCH_BENCH_POSTGRES_URL "
        "or postgresql://postgres@127.0.0.1:5432/postgres; $DRIFTWATCH_BENCH_MYSQL_URL or "
        "mysql://root@127.0.0.1:3306/mysql); ignored for sqlite",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated schema")
    parser.add_argument(
        "--build-models",
        action="store_true",
        help="build the models' snapshot in a scratch database, as driftwatch does on a "
        "cache miss (default: read it from the benchmark database, made by the same DDL)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.tables):
        parser.error("--repeat and --tables take positive numbers")
    return args


def make_server(args: argparse.Namespace, workdir: Path) -> Server:
    if args.dialect == "sqlite":
        return Server("sqlite", make_url("sqlite+aiosqlite://"), workdir)
    env, fallback = DEFAULT_URLS[args.dialect]
    raw = args.url or os.environ.get(env) or fallback
    url = make_url(raw)
    backend = url.get_backend_name()
    if ASYNC_DRIVERS.get(backend, "").split("+")[0] != args.dialect:
        raise BenchError(f"--url {url.render_as_string()} is not a {args.dialect} URL")
    return Server(args.dialect, url.set(drivername=ASYNC_DRIVERS[backend]), workdir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="driftwatch-bench-"))
    server: Server | None = None
    try:
        server = make_server(args, workdir)
        asyncio.run(run(args, server))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None and server.created:
            leftover = list(server.created)
            print(f"bench: dropping {', '.join(leftover)}", file=sys.stderr)

            async def drop_all() -> None:
                for name in leftover:
                    await server.drop(name)

            asyncio.run(drop_all())
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
