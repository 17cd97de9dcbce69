"""Alembic environment of the Control Plane: async engine, the SQLModel metadata, and the
application's DATABASE_URL unless a URL is given explicitly."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from control_plane import models
from control_plane.config import Settings
from control_plane.migrations import context_options

config = context.config

# tools that run migrations in their own process set configure_logger=False so that their
# logging stays as they configured it
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = models.metadata


def database_url() -> str:
    """`-x url=...`, else a `sqlalchemy.url` set on the Config, else DATABASE_URL."""
    explicit = context.get_x_argument(as_dictionary=True).get("url")
    if explicit:
        return explicit
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    # read afresh (not get_settings()) so a process that changes DATABASE_URL is obeyed
    return Settings().database_url


def run_migrations_offline() -> None:
    """Write the SQL to stdout (`--sql`) without connecting to any database."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **context_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        **context_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # NullPool: a migration run is one connection, nothing to keep for later
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
