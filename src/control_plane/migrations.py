"""What `alembic/env.py`, the startup check and the tests share about the migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.config import Config

from control_plane.errors import AlembicConfigNotFoundError


def context_options(dialect_name: str) -> dict[str, Any]:
    """Options for `context.configure` / `MigrationContext.configure`, per dialect.

    Autogenerate and schema comparisons must use the same ones as the migrations, or a
    comparison reports differences the migrations would never produce.
    """
    return {
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode copies the table instead
        "render_as_batch": dialect_name == "sqlite",
    }


def alembic_config(ini_path: str | Path, *, database_url: str | None = None) -> Config:
    """An alembic `Config` for `ini_path`, optionally pinned to `database_url`.

    A URL set here wins over DATABASE_URL in `env.py`. `%` is doubled because the value goes
    through configparser interpolation (URL-encoded passwords contain `%`).
    """
    if not Path(ini_path).is_file():
        raise AlembicConfigNotFoundError(str(ini_path))
    config = Config(str(ini_path))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config
