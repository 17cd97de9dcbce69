"""The Control Plane's settings, shared by the service and by `alembic/env.py`.

Values come from the environment, then a `.env` file in the working directory, then the
defaults below. Names are case-insensitive: `DATABASE_URL` sets `database_url`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres:postgres@localhost:5432/accord_engine"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Validated configuration of one Control Plane process."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # an async SQLAlchemy URL; the migrations use the same one unless told otherwise
    database_url: str = DEFAULT_DATABASE_URL
    environment: Environment = Environment.DEVELOPMENT
    # when true, starting against a database that is not at the migration head is an error
    # instead of a warning
    migrations_strict: bool = False
    # the same variable the alembic command line reads; relative to the working directory
    alembic_config: str = "alembic.ini"
    # log every SQL statement (development aid)
    database_echo: bool = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; tests build `Settings(...)` directly instead."""
    return Settings()
