"""Scenario projects under tests/scenarios: migrate them, alter them out of band, target them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.targets import Target

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SHOP = SCENARIOS / "shop"
SHOP_METADATA = "tests.scenarios.shop.models:metadata"


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


def shop_target(url: URL, **fields: Any) -> Target:
    values: dict[str, Any] = {
        "name": "shop",
        "url": url,
        "script_location": str(SHOP / "migrations"),
        "metadata": (SHOP_METADATA,),
    }
    values.update(fields)
    return Target(**values)
