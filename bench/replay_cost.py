"""What attribution costs: the first (cold) check of a project with a long migration history,
and a cached one, against alembic's comparison and the catalog-read floor of the same run.

The script writes a project into a temporary folder: N revisions (a new table every third
revision, a column added to an earlier table or an index on one otherwise) and models that
match the head. It migrates a throwaway live database to the head with alembic's own
command, then measures on it:

  alembic compare_metadata   what `alembic check` runs (connect included): the peer
  live snapshot alone        driftwatch's catalog read on an open connection: the floor
  cold check                 check_target with an empty snapshot cache: starts the scratch
                             server (embedded PostgreSQL / in-memory SQLite), builds the
                             models, replays the N revisions, snapshots, compares
  cached check               check_target in a new ExpectedStates over the warmed cache, as a
                             new `driftwatch check` process would: reads the states from disk,
                             starts no scratch server, replays nothing

    .venv/bin/python bench/replay_cost.py --revisions 100
    .venv/bin/python bench/replay_cost.py --dialect sqlite --revisions 100

Median and min over --repeat runs each (the cold check with a new cache folder every run).
PostgreSQL: the server of --url (default the local one), on which a driftwatch_bench_*
database is created and dropped; the scratch server is the default one (embedded).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.check import check_target
from driftwatch.config.targets import Target
from driftwatch.expected.cache import SnapshotCache
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.states import ExpectedStates
from driftwatch.live.observe import make_engine
from driftwatch.live.snapshot import read_snapshot
from driftwatch.snapshot import Scope

REVISION = '''"""step {n}"""
import sqlalchemy as sa
from alembic import op

revision = "r{n:04d}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
{body}


def downgrade() -> None:
    pass
'''


def write_project(folder: Path, revisions: int) -> str:
    """The scripts and a models module matching their head; returns the models' import path."""
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (folder / "migrations" / "script.py.mako").write_text("")
    tables: dict[str, list[str]] = {}  # table -> extra columns, in order
    indexes: list[tuple[str, str]] = []
    for n in range(revisions):
        if n % 3 == 0 or not tables:
            name = f"t{n:04d}"
            tables[name] = []
            body = (
                f"    op.create_table('{name}', sa.Column('id', sa.Integer, primary_key=True),"
                " sa.Column('name', sa.String(80), nullable=False),"
                " sa.Column('created_at', sa.DateTime, server_default=sa.func.now()))"
            )
        elif n % 3 == 1:
            table = sorted(tables)[n % len(tables)]
            column = f"c{n:04d}"
            tables[table].append(column)
            body = f"    op.add_column('{table}', sa.Column('{column}', sa.Integer))"
        else:
            table = sorted(tables)[n % len(tables)]
            index = f"ix_{table}_name_{n:04d}"
            indexes.append((index, table))
            body = f"    op.create_index('{index}', '{table}', ['name'])"
        down = "None" if n == 0 else f'"r{n - 1:04d}"'
        (versions / f"r{n:04d}.py").write_text(REVISION.format(n=n, down=down, body=body))
    lines = ["import sqlalchemy as sa", "", "metadata = sa.MetaData()", ""]
    for name, extra in tables.items():
        columns = [
            "sa.Column('id', sa.Integer, primary_key=True)",
            "sa.Column('name', sa.String(80), nullable=False)",
            "sa.Column('created_at', sa.DateTime, server_default=sa.func.now())",
            *(f"sa.Column('{c}', sa.Integer)" for c in extra),
        ]
        lines.append(f"{name} = sa.Table('{name}', metadata, {', '.join(columns)})")
    for index, table in indexes:
        lines.append(f"sa.Index('{index}', {table}.c.name)")
    module = f"replay_bench_models_{uuid.uuid4().hex[:8]}"
    (folder / f"{module}.py").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(folder))
    return f"{module}:metadata"


def migrate(url: URL, scripts: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(scripts))

    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as conn:

                def upgrade(sync: sa.Connection) -> None:
                    config.attributes["connection"] = sync
                    command.upgrade(config, "head")

                await conn.run_sync(upgrade)
        finally:
            await engine.dispose()

    (scripts / "env.py").write_text(
        "from alembic import context\n"
        "context.configure(connection=context.config.attributes['connection'])\n"
        "with context.begin_transaction():\n    context.run_migrations()\n"
    )
    asyncio.run(run())


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await work()
    return time.perf_counter() - start


async def measure(target: Target, metadata: sa.MetaData, repeat: int, workdir: Path) -> None:
    warm = workdir / "warm-cache"

    def states(folder: Path) -> ExpectedStates:
        return ExpectedStates(scratch=ScratchServers(cache_dir=folder), cache=SnapshotCache(folder))

    async def check(folder: Path) -> None:
        report = await check_target(target, states=states(folder))
        if report.error is not None or report.schema is None:
            raise SystemExit(f"check failed: {report.error}")
        if report.schema.method != "replay" or report.schema.findings:
            found = [f.kind.value for f in report.schema.findings]
            raise SystemExit(f"expected a clean replay, got {report.schema.method}: {found}")

    async def cold() -> None:
        await check(Path(tempfile.mkdtemp(dir=workdir, prefix="cold-")))

    async def cached() -> None:
        await check(warm)

    async def alembic_peer() -> None:
        engine = create_async_engine(target.url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:

                def compare(sync: sa.Connection) -> None:
                    context = MigrationContext.configure(sync, opts={"compare_type": True})
                    diffs = compare_metadata(context, metadata)
                    if diffs:
                        raise SystemExit(f"alembic found differences: {diffs[:3]}")

                await conn.run_sync(compare)
        finally:
            await engine.dispose()

    engine = make_engine(target)
    try:
        async with engine.connect() as conn:

            async def floor() -> None:
                await conn.run_sync(read_snapshot, Scope())

            await check(warm)  # warms the cache
            rows: dict[str, list[float]] = {
                "alembic compare_metadata": [],
                "live snapshot alone": [],
                "cold check": [],
                "cached check": [],
            }
            work = dict(zip(rows, (alembic_peer, floor, cold, cached), strict=True))
            for _ in range(repeat):
                for name, run in work.items():
                    rows[name].append(await timed(run))
    finally:
        await engine.dispose()
    peer = statistics.median(rows["alembic compare_metadata"])
    base = statistics.median(rows["live snapshot alone"])
    print(f"{'row':<26} {'median s':>9} {'min s':>8} {'vs alembic':>11} {'vs floor':>9}")
    for name, values in rows.items():
        median = statistics.median(values)
        print(
            f"{name:<26} {median:>9.3f} {min(values):>8.3f} {median / peer:>10.2f}x "
            f"{median / base:>8.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--revisions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="driftwatch-replay-bench-") as tmp:
        workdir = Path(tmp)
        models = write_project(workdir, args.revisions)
        module, _, attr = models.partition(":")
        metadata = getattr(importlib.import_module(module), attr)
        scripts = workdir / "migrations"
        server = make_url(args.url)
        name = f"driftwatch_bench_{uuid.uuid4().hex[:8]}"
        if args.dialect == "sqlite":
            url = make_url(f"sqlite+aiosqlite:///{workdir / 'live.db'}")
        else:
            url = server.set(database=name)
            asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
        try:
            migrate(url, scripts)
            target = Target(name="bench", url=url, script_location=str(scripts), metadata=(models,))
            print(f"{args.dialect}, {args.revisions} revisions, {len(metadata.tables)} tables, "
                  f"repeat {args.repeat}")  # fmt: skip
            asyncio.run(measure(target, metadata, args.repeat, workdir))
        finally:
            if args.dialect != "sqlite":
                asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


async def _admin(server: URL, statement: str) -> None:
    engine = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
