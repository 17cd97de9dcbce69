"""Database access for the Control Plane: the async engine, sessions, and a development-only
shortcut that creates the schema without migrations."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from control_plane.config import Environment, Settings, get_settings
from control_plane.errors import InitModelsInProductionError
from control_plane.models import metadata


def create_engine(settings: Settings) -> AsyncEngine:
    """The service's engine; `pool_pre_ping` survives database restarts between requests."""
    return create_async_engine(
        settings.database_url, echo=settings.database_echo, pool_pre_ping=True
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit, as request handlers expect."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def init_models(
    engine: AsyncEngine | None = None, *, settings: Settings | None = None
) -> None:
    """Create every table of the models directly, for a throwaway development database.

    The schema this makes is the migration head's, but the database gets no alembic_version
    row, so migrations cannot manage it afterwards: production databases are only ever built
    with `alembic upgrade head`, and this refuses to run when ENVIRONMENT is production.
    Without an engine, one is made from the settings and disposed of afterwards.
    """
    settings = settings or get_settings()
    if settings.environment is Environment.PRODUCTION:
        raise InitModelsInProductionError
    own_engine = engine is None
    engine = engine or create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        if own_engine:
            await engine.dispose()
