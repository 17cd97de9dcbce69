"""The Control Plane service's lifecycle: what happens before it serves and after it stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from control_plane.config import Settings, get_settings
from control_plane.db import create_engine, create_session_factory
from control_plane.migrations import alembic_config
from control_plane.startup import check_migrations


@asynccontextmanager
async def lifespan(
    app: object = None, *, settings: Settings | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Open the engine, run the migration startup check, yield the shared state, dispose.

    Shaped as a Starlette/FastAPI lifespan (`FastAPI(lifespan=lifespan)`): `app` is the
    framework's application, which this does not need, and the yielded mapping becomes the
    request state (`engine`, `sessions`). With MIGRATIONS_STRICT set, a database that is not
    at the migration head stops the start with `MigrationsOutOfDateError`.
    """
    settings = settings or get_settings()
    engine = create_engine(settings)
    try:
        await check_migrations(
            engine, alembic_config(settings.alembic_config), strict=settings.migrations_strict
        )
        yield {"engine": engine, "sessions": create_session_factory(engine)}
    finally:
        await engine.dispose()
