"""The test support itself: servers are found and databases are isolated."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine


async def _select_one(url: URL) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())
    finally:
        await engine.dispose()


def test_every_dialect_answers(any_url: URL) -> None:
    """Each dialect's fixture yields a database that accepts a query."""
    assert asyncio.run(_select_one(any_url)) == 1
