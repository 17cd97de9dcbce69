"""The version 1 catalog read of CHECK constraints, on SQLite's stored CREATE TABLE text."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.live.catalog import read_checks
from tests.support.scenarios import execute


async def _read_checks(url: URL) -> dict[tuple[str | None, str], dict[str | None, str]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:

            def run(sync: Connection) -> dict[tuple[str | None, str], dict[str | None, str]]:
                return read_checks(sync, [], [(None, "orders"), (None, "absent")])

            return await conn.run_sync(run)
    finally:
        await engine.dispose()


def test_sqlite_checks_are_the_constraints_and_nothing_in_a_string(sqlite_url: URL) -> None:
    """A CHECK ( inside a string default is no constraint; the real ones, on a column or
    the table, named or not, are read, and a table that does not exist is simply absent."""
    execute(
        sqlite_url,
        """CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            status TEXT DEFAULT 'CONSTRAINT ck_fake CHECK (status)' CHECK (status <> ''),
            total NUMERIC,
            CONSTRAINT ck_orders_total CHECK (total >= 0))""",
    )

    assert asyncio.run(_read_checks(sqlite_url)) == {
        (None, "orders"): {None: "CHECK (status <> '')", "ck_orders_total": "CHECK (total >= 0)"}
    }
