"""Scenario projects under tests/scenarios: migrate them, alter them out of band, target them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.config.settings import Comparison, Timeouts
from driftwatch.config.targets import Target

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHOP = SCENARIOS / "shop"
SHOP_METADATA = "tests.scenarios.shop.models:metadata"
SHOP_VERSIONS = SHOP / "migrations" / "versions"
SHOP_BRANCHES = SHOP / "branches"
AUDITED = SCENARIOS / "audited"
AUDITED_METADATA = "tests.scenarios.audited.models:metadata"
TRACES = SCENARIOS / "traces"


def alembic_config(
    scenario: Path = SHOP,
    *,
    version_locations: list[Path] | None = None,
    version_table_schema: str | None = None,
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scenario / "migrations"))
    if version_locations:
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", ":".join(map(str, version_locations)))
    config.attributes["version_table_schema"] = version_table_schema
    return config


def branched_config() -> Config:
    """The shop with its two extra heads (d4left, d4right) on top of c3."""
    return alembic_config(version_locations=[SHOP_VERSIONS, SHOP_BRANCHES])


async def _with_connection(url: URL, action: Any) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(action)
    finally:
        await engine.dispose()


def migrate(url: URL, revision: str, *, config: Config | None = None, down: bool = False) -> None:
    """Upgrade (or downgrade) the database to `revision` with alembic's command API."""
    config = config or alembic_config()

    def run(conn: Connection) -> None:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)

    asyncio.run(_with_connection(url, run))


def execute(url: URL, *statements: str) -> None:
    """Change the database out of band, as a person with a SQL prompt would."""

    def run(conn: Connection) -> None:
        for statement in statements:
            conn.exec_driver_sql(statement)

    asyncio.run(_with_connection(url, run))


def query(url: URL, statement: str) -> list[tuple[Any, ...]]:
    """Rows of one read, on a connection of the test's own (not driftwatch's)."""
    rows: list[tuple[Any, ...]] = []

    def run(conn: Connection) -> None:
        rows.extend(tuple(row) for row in conn.exec_driver_sql(statement))

    asyncio.run(_with_connection(url, run))
    return rows


@dataclass(frozen=True, slots=True)
class Rebuild:
    """SQLite's ALTER TABLE: recreate `table` from its own DDL with text replaced.

    This is how SQLite tools (alembic's batch mode included) change a column or a
    constraint; each `(old, new)` must occur in the stored DDL, so a typo fails loudly.
    """

    table: str
    replacements: tuple[tuple[str, str], ...]


def rebuild_sqlite_table(url: URL, rebuild: Rebuild) -> None:
    def run(conn: Connection) -> None:
        ddl = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (rebuild.table,)
        ).scalar_one()
        indexes = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (rebuild.table,),
        ).scalars()
        index_ddl = list(indexes)
        for old, new in rebuild.replacements:
            if old not in ddl:
                raise AssertionError(f"{old!r} is not in the DDL of {rebuild.table}: {ddl}")
            ddl = ddl.replace(old, new)
        conn.exec_driver_sql(f'DROP TABLE "{rebuild.table}"')
        conn.exec_driver_sql(ddl)
        for statement in index_ddl:
            conn.exec_driver_sql(statement)

    asyncio.run(_with_connection(url, run))


def flat_target(values: dict[str, Any]) -> Target:
    """A Target from fields named as a configuration file names them: the timeouts and the
    comparison options go to their parts."""
    timeouts = {k: values.pop(k) for k in list(values) if k in Timeouts.model_fields}
    compare = {k: values.pop(k) for k in list(values) if k in Comparison.model_fields}
    return Target(**values, timeouts=Timeouts(**timeouts), compare=Comparison(**compare))


def shop_target(url: URL, **fields: Any) -> Target:
    values: dict[str, Any] = {
        "name": "shop",
        "url": url,
        "script_location": str(SHOP / "migrations"),
        "metadata": (SHOP_METADATA,),
    }
    values.update(fields)
    return flat_target(values)


def audited_target(url: URL, **fields: Any) -> Target:
    values: dict[str, Any] = {
        "name": "audited",
        "url": url,
        "script_location": str(AUDITED / "migrations"),
        "metadata": (AUDITED_METADATA,),
    }
    values.update(fields)
    return flat_target(values)


def traces_target(url: URL, **fields: Any) -> Target:
    """The traces scenario; PostgreSQL's models have the table only PostgreSQL can build."""
    models = "pg_metadata" if url.get_backend_name() == "postgresql" else "metadata"
    values: dict[str, Any] = {
        "name": "traces",
        "url": url,
        "script_location": str(TRACES / "migrations"),
        "metadata": (f"tests.scenarios.traces.models:{models}",),
        "compare_server_default": True,
    }
    values.update(fields)
    return flat_target(values)


# --- the real console script ----------------------------------------------------------

DRIFTWATCH = REPO_ROOT / ".venv" / "bin" / "driftwatch"


def plain_url(url: URL) -> str:
    """The URL as a user writes it, password included (for configs and --url)."""
    return url.render_as_string(hide_password=False)


def run_driftwatch(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `driftwatch` console script as a user would, in `cwd`.

    The environment is the test's minus every DRIFTWATCH_/DATABASE_URL variable, plus `env`;
    PYTHONPATH names the checkout so `tests.scenarios...` model paths import.
    """
    executable = [str(DRIFTWATCH)] if DRIFTWATCH.exists() else [sys.executable, "-m", "driftwatch"]
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DRIFTWATCH_") and k not in ("DATABASE_URL", "PYTHONPATH")
    }
    base["PYTHONPATH"] = str(REPO_ROOT)
    base.update(env or {})
    return subprocess.run(
        [*executable, *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
