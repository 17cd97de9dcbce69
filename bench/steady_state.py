"""What driftwatch's daemon costs the database it watches, as ratios to alembic's own comparison.

For each size, the script creates a throwaway database holding N generated tables (mixed
column types, a primary key, indexes, foreign keys to earlier tables, a unique constraint,
comments on some), stamps it with a one-revision alembic scripts folder (whose replay
starts from the models' create_all, `replay_bootstrap`), and measures in the same run, on
the same database:

  alembic compare_metadata      what `alembic check` runs, on a fresh connection (connect
                                included), compare_type on: the peer every ratio is against
  driftwatch full check         check_target(target, expected=expected, max_age_seconds=3600):
                                the daemon's full check (fingerprint read before and after)
  driftwatch check (one-shot)   check_target(target, expected=expected): `driftwatch check`,
                                which reads no fingerprint
  driftwatch steady-state tick  check_target(..., previous=<full report>, max_age_seconds=3600);
                                the script stops if it is not a PROBE
  fingerprint query alone       read_fingerprint on an open connection (reference)
  connect + close alone         driftwatch's engine, no query (reference: a tick's floor)

Each row gives the median and min seconds over --repeat runs, the statements sent (SQLAlchemy
cursor executions), the wire round trips (client-to-server turns counted by a TCP relay in a
separate untimed run, connection setup included) and the peak Python memory (tracemalloc, in
another separate run). Both sides use the same async driver (asyncpg, aiomysql, aiosqlite).

    .venv/bin/python bench/steady_state.py --tables 300 1000 3000 --repeat 5
    .venv/bin/python bench/steady_state.py --dialect mysql --tables 300 1000
    .venv/bin/python bench/steady_state.py --dialect sqlite --tables 300 1000 3000

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
import driftwatch.check
from driftwatch.check import check_target
from driftwatch.config.settings import Timeouts
from driftwatch.config.targets import ASYNC_DRIVERS, Target
from driftwatch.expected.sources import Expected, load_expected
from driftwatch.report import CheckKind, TargetReport

try:  # its home since the fingerprint got a module of its own
    from driftwatch.live.probe import read_fingerprint
except ImportError:  # pragma: no cover - older trees
    from driftwatch.live.observe import read_fingerprint

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


_driftwatch_make_engine = driftwatch.check.make_engine


def _counting_make_engine(target: Target) -> Any:
    engine = _driftwatch_make_engine(target)
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
    full_report: TargetReport | None = None  # the latest full report, `previous` for ticks
    alembic_diffs: int | None = None
    tick_engine: AsyncEngine | None = None  # kept across ticks, as the daemon keeps one


Operation = Callable[[Setup, Meter], Awaitable[None]]


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


def _require_success(report: TargetReport, what: str) -> None:
    if report.error is not None:
        raise BenchError(f"{what} failed: {report.error}")


async def op_full(setup: Setup, meter: Meter) -> None:
    """The daemon's first check of a target: the comparison, and the fingerprint read
    before and after it so that later ticks can stand on it."""
    async with meter:
        report = await check_target(setup.target, expected=setup.expected, max_age_seconds=3600)
    _require_success(report, "the driftwatch full check")
    if report.check_kind is not CheckKind.FULL:
        raise BenchError(f"the full check reported {report.check_kind}, not FULL")
    if report.schema is None or not report.schema.in_sync:
        findings = report.schema.findings if report.schema else ()
        print(f"  note: driftwatch reports {len(findings)} finding(s): {findings[:1]!r:.200}")
    setup.full_report = report


async def op_check(setup: Setup, meter: Meter) -> None:
    """`driftwatch check`: the comparison, and no fingerprint (nothing compares with it)."""
    async with meter:
        report = await check_target(setup.target, expected=setup.expected)
    _require_success(report, "the driftwatch one-shot check")
    if report.check_kind is not CheckKind.FULL or report.fingerprint is not None:
        raise BenchError(f"the one-shot check reported {report.check_kind}, {report.fingerprint}")


async def op_tick(setup: Setup, meter: Meter) -> None:
    if setup.full_report is None:
        raise BenchError("a tick needs a full report to start from")
    if setup.tick_engine is None:
        # the daemon makes each target's engine once and sets its dialect up on the first
        # check; every tick after that is what this row measures
        setup.tick_engine = _counting_make_engine(setup.target)
        async with setup.tick_engine.connect():
            pass
    async with meter:
        report = await check_target(
            setup.target,
            expected=setup.expected,
            previous=setup.full_report,
            max_age_seconds=3600,
            engine=setup.tick_engine,
        )
    _require_success(report, "the driftwatch steady-state tick")
    if report.check_kind is not CheckKind.PROBE:
        raise BenchError(
            f"the steady-state tick reported {report.check_kind}, not PROBE: the fingerprint "
            f"or the heads changed with no schema change ({setup.full_report.fingerprint} -> "
            f"{report.fingerprint})"
        )


async def op_fingerprint(setup: Setup, meter: Meter) -> None:
    """The fingerprint query alone, on a connection already open (its connect not counted)."""

    def query(conn: Connection) -> str:
        schema = conn.dialect.default_schema_name
        return read_fingerprint(conn, [schema] if schema else [])

    engine = _counting_make_engine(setup.target)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: None)  # connect and initialise outside the meter
            async with meter:
                await conn.run_sync(query)
            await conn.rollback()
    finally:
        await engine.dispose()


async def op_connect(setup: Setup, meter: Meter) -> None:
    """driftwatch's engine: create, connect (session guard, dialect setup), close; no query."""
    async with meter:
        engine = _counting_make_engine(setup.target)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()


OPERATIONS: list[tuple[str, str, Operation]] = [
    ("alembic", "alembic compare_metadata", op_alembic),
    ("full", "driftwatch full check", op_full),
    ("check", "driftwatch check (one-shot)", op_check),
    ("tick", "driftwatch steady-state tick", op_tick),
    ("fingerprint", "fingerprint query alone", op_fingerprint),
    ("connect", "connect + close alone", op_connect),
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


def print_table(
    timed: dict[str, list[Sample]], wire: dict[str, Sample] | None, memory: dict[str, Sample]
) -> None:
    header = (
        f"  {'':30} {'median s':>10} {'min s':>10} {'statements':>11} {'round trips':>12} "
        f"{'peak MiB':>9} {'vs alembic':>11}"
    )
    print(header)
    medians = {k: statistics.median(s.seconds for s in v) for k, v in timed.items()}
    for key, label, _op in OPERATIONS:
        runs = timed[key]
        turns = "n/a" if wire is None else str(wire[key].turns)
        peak = (memory[key].peak_bytes or 0) / MIB
        ratio = _fmt_ratio(medians[key] / medians["alembic"])
        print(
            f"  {label:30} {_fmt_seconds(medians[key]):>10} "
            f"{_fmt_seconds(min(s.seconds for s in runs)):>10} {runs[-1].statements:>11} "
            f"{turns:>12} {peak:>9.2f} {ratio:>11}"
        )
    time_ratios = "   ".join(
        f"{key}/alembic = {_fmt_ratio(medians[key] / medians['alembic'])}"
        for key in ("full", "tick", "fingerprint", "check")
    )
    print(f"  time (median):    {time_ratios}")
    mem = {k: (memory[k].peak_bytes or 0) for k in memory}
    mem_ratios = "   ".join(
        f"{key}/alembic = {_fmt_ratio(mem[key] / max(mem['alembic'], 1))}"
        for key in ("full", "tick")
    )
    print(f"  peak memory:      {mem_ratios}")
    if wire is not None:
        trip_ratios = "   ".join(
            f"{key}/alembic = {wire[key].turns}/{wire['alembic'].turns}" for key in ("full", "tick")
        )
        print(f"  round trips:      {trip_ratios}")


def bench_target(url: URL, folder: Path, metadata: sa.MetaData, tables: int) -> Target:
    """The target checked: the one-revision scripts, the models, their create_all as the
    replay's bootstrap."""
    models = register_models(metadata, tables)
    return Target(
        name="bench",
        url=url,
        script_location=str(write_scripts(folder / "scripts")),
        metadata=(models,),
        replay_bootstrap=models.replace(":metadata", ":create_all"),
        timeouts=Timeouts(check_timeout_seconds=3600, statement_timeout_seconds=600),
    )


async def bench_size(server: Server, tables: int, repeat: int, seed: int) -> None:
    generated = build_metadata(tables, server.dialect, seed)
    print(f"\n== {tables} tables: {generated.shape} ==", flush=True)
    name = f"dwbench_{tables}_{uuid.uuid4().hex[:8]}"
    folder = server.workdir / name
    try:
        clock = time.perf_counter()
        url = await server.create(name)
        await server.load(url, ddl_batches(generated.metadata, server.dialect))
        created = time.perf_counter() - clock

        target = bench_target(url, folder, generated.metadata, tables)
        clock = time.perf_counter()
        expected = load_expected(target)
        loaded = time.perf_counter() - clock
        print(
            f"  setup: database {name} created and filled in {created:.1f} s; "
            f"load_expected (scripts + models, once per daemon) {loaded:.3f} s",
            flush=True,
        )
        setup = Setup(url=url, target=target, expected=expected, metadata=generated.metadata)

        wire_samples: dict[str, Sample] | None = None
        address = tcp_address(url, server.dialect)
        if address is None:
            await run_pass(setup, wire=None, memory=False)  # warm-up (lazy imports, caches)
        else:
            # first pass through the relay: counts round trips, and warms up
            relay = WireCounter(*address)
            port = await relay.start()
            try:
                relayed_url = url.set(host="127.0.0.1", port=port)
                relayed = dataclasses.replace(
                    setup, url=relayed_url, target=dataclasses.replace(target, url=relayed_url)
                )
                wire_samples = await run_pass(relayed, wire=relay, memory=False)
                setup.full_report = relayed.full_report
            finally:
                if relayed.tick_engine is not None:
                    await relayed.tick_engine.dispose()
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
        if setup.tick_engine is not None:
            await setup.tick_engine.dispose()
    finally:
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
        f"driftwatch steady-state benchmark: {await server.version()}; {driftwatch_revision()}; "
        f"Python {platform.python_version()}, SQLAlchemy {sa.__version__}, "
        f"alembic {alembic.__version__}, driver {server.admin_url.drivername} (both sides); "
        f"{os.cpu_count()} CPU(s)"
    )
    for tables in args.tables:
        await bench_size(server, tables, args.repeat, args.seed)


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
    # only in this process: count the statements of driftwatch's own engine
    driftwatch.check.make_engine = _counting_make_engine  # type: ignore[attr-defined]
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
