"""`driftwatch demo`: the Control Plane's migrations on an embedded SQLite database, drift made
on purpose, and the check run on it, so a new user sees every kind of result in one command:
drift (changes made by hand), pending (the migration not yet run) and unmigrated (a model
changed without a migration, made in the demo's own copy of the models).

It writes only inside a temporary folder of its own.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Column, DateTime, MetaData
from sqlalchemy.engine import make_url

import driftwatch
from driftwatch.check import check_target
from driftwatch.config.alembic_ini import read_alembic_ini
from driftwatch.config.targets import Target
from driftwatch.errors import ConfigError, DriftwatchError
from driftwatch.expected.sources import load_expected
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.serve.metrics import DriftCollector

# changes someone with a SQL prompt might make behind the migrations' back
OUT_OF_BAND_SQL = (
    "CREATE INDEX ix_tasks_name ON tasks (name)",
    "ALTER TABLE workspaces DROP COLUMN description",
)
# a column added to a model without `alembic revision --autogenerate`
UNMIGRATED_COLUMN = ("workflows", "archived_at")


def models_ahead(metadata: MetaData) -> MetaData:
    """A copy of the models with UNMIGRATED_COLUMN added; the models themselves stay as
    they are."""
    ahead = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(ahead)
    table_name, column = UNMIGRATED_COLUMN
    ahead.tables[table_name].append_column(Column(column, DateTime(timezone=True)))
    return ahead


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoRun:
    report: TargetReport
    metrics: str


def find_control_plane(cwd: Path) -> Path:
    """The Control Plane's alembic.ini: here, or in the checkout driftwatch runs from."""
    for candidate in (cwd / "alembic.ini", Path(driftwatch.__file__).parents[1] / "alembic.ini"):
        if candidate.is_file() and "[driftwatch]" in candidate.read_text(encoding="utf-8"):
            return candidate
    raise ConfigError(
        "the demo needs the Control Plane's alembic.ini: run it from a driftwatch checkout"
    )


def _alembic(ini: Path, database_url: str, *args: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(  # noqa: S603 - our own interpreter running alembic on our own files
        [sys.executable, "-m", "alembic", "-c", str(ini), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DriftwatchError(f"demo: alembic {' '.join(args)} failed: {last}")


async def run_demo(workdir: Path, say: Callable[[str], None], *, cwd: Path) -> DemoRun:
    """Build the demo database in `workdir`, drift it, check it; narrate through `say`."""
    ini = find_control_plane(cwd)
    db_path = workdir / "control-plane-demo.db"
    url = make_url(f"sqlite+aiosqlite:///{db_path}")
    target = Target(
        name="control-plane-demo", url=url, alembic_ini=ini, metadata=read_alembic_ini(ini).metadata
    )
    expected = load_expected(target)
    (head,) = expected.scripts.heads
    (previous,) = expected.scripts.revisions[head].parents

    say("driftwatch demo: the Control Plane's migrations on an embedded SQLite database")
    say(f"({db_path})")
    say("")
    say(f"1. $ alembic upgrade {previous}    # one revision short of head {head}")
    _alembic(ini, str(url), "upgrade", previous)
    say("2. changes made behind the migrations' back:")
    with sqlite3.connect(db_path) as conn:
        for statement in OUT_OF_BAND_SQL:
            say(f"     {statement};")
            conn.execute(statement)
    table_name, column = UNMIGRATED_COLUMN
    say(f"3. a model changed without a migration: {table_name}.{column} added in the code")
    if expected.metadata is not None:
        expected = replace(expected, metadata=models_ahead(expected.metadata))
    say("4. $ driftwatch check")
    say("")
    report = await check_target(target, expected=expected)
    registry = CollectorRegistry(auto_describe=False)
    state = TargetState(name=target.name, dialect=target.dialect).after(report)
    registry.register(DriftCollector(lambda: [state]))
    samples = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line and not line.startswith("#")
    ]
    return DemoRun(report=report, metrics="\n".join(samples))
