"""The Control Plane's settings, models and helpers, without any database."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from control_plane.config import DEFAULT_DATABASE_URL, Environment, Settings
from control_plane.db import init_models
from control_plane.errors import AlembicConfigNotFoundError, InitModelsInProductionError
from control_plane.migrations import alembic_config
from control_plane.models import NAMING_CONVENTION, metadata
from control_plane.startup import MigrationStatus
from tests.conftest import REPO_ROOT

SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "ENVIRONMENT",
    "MIGRATIONS_STRICT",
    "ALEMBIC_CONFIG",
    "DATABASE_ECHO",
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No settings in the environment and an empty working directory (no .env)."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_settings_defaults(clean_environment: Path) -> None:
    """Without configuration the URL is the guide's default and the mode is development."""
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert DEFAULT_DATABASE_URL == (
        "postgresql+asyncpg://postgres:postgres@localhost:5432/accord_engine"
    )
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.migrations_strict is False


def test_settings_from_environment_and_dotenv(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DATABASE_URL and friends come from the environment, which beats `.env`."""
    (clean_environment / ".env").write_text(
        "DATABASE_URL=sqlite+aiosqlite:///from-dotenv.db\nENVIRONMENT=production\n"
    )
    assert Settings().database_url == "sqlite+aiosqlite:///from-dotenv.db"
    assert Settings().environment is Environment.PRODUCTION

    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///from-env.db")
    monkeypatch.setenv("MIGRATIONS_STRICT", "true")
    assert Settings().database_url == "sqlite+aiosqlite:///from-env.db"
    assert Settings().migrations_strict is True


def test_settings_reject_an_unknown_environment(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENVIRONMENT accepts only development and production."""
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ValidationError):
        Settings()


def test_init_models_refuses_in_production() -> None:
    """init_models() raises before touching any database when ENVIRONMENT is production."""
    production = Settings(
        environment=Environment.PRODUCTION,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
    )
    with pytest.raises(InitModelsInProductionError, match="alembic upgrade head"):
        asyncio.run(init_models(settings=production))


def test_alembic_config_escapes_percent_signs() -> None:
    """A URL with a URL-encoded password survives configparser interpolation."""
    url = "postgresql+asyncpg://app:p%40ss%25word@db.example:5432/accord_engine"
    config = alembic_config(REPO_ROOT / "alembic.ini", database_url=url)
    assert config.get_main_option("sqlalchemy.url") == url


def test_alembic_config_must_exist(tmp_path: Path) -> None:
    """A missing alembic.ini is a clear error naming the path and ALEMBIC_CONFIG."""
    with pytest.raises(AlembicConfigNotFoundError, match="ALEMBIC_CONFIG"):
        alembic_config(tmp_path / "missing.ini")


def test_alembic_ini_names_the_models_for_driftwatch() -> None:
    """The [driftwatch] section of alembic.ini, read through alembic's Config (which knows
    %(here)s), points at the models' metadata."""
    config = alembic_config(REPO_ROOT / "alembic.ini")
    reference = config.get_section_option("driftwatch", "metadata")
    assert reference == "control_plane.models:metadata"
    module_name, _, attribute = reference.partition(":")
    assert getattr(importlib.import_module(module_name), attribute) is metadata
    assert config.get_main_option("script_location") == f"{REPO_ROOT}/alembic"


def test_schema_uses_the_features_services_rely_on() -> None:
    """The models carry what drift detection must handle: ON DELETE rules, composite and unique
    indexes, named enums, a JSONB variant, server defaults, checks and comments."""
    tables = metadata.tables
    assert len(tables) >= 5
    ondelete = {
        fk.ondelete for table in tables.values() for fk in table.foreign_keys if fk.ondelete
    }
    assert ondelete >= {"CASCADE", "SET NULL", "RESTRICT"}
    indexes = [index for table in tables.values() for index in table.indexes]
    assert any(len(index.columns) > 1 for index in indexes)
    assert any(index.unique for index in indexes)
    enums = {
        column.type.name
        for table in tables.values()
        for column in table.columns
        if isinstance(column.type, sa.Enum)
    }
    assert enums >= {"agent_status", "run_status", "task_status", "policy_effect"}
    settings_type = tables["workspaces"].c.settings.type
    assert isinstance(settings_type.dialect_impl(postgresql.dialect()), postgresql.JSONB)
    assert isinstance(settings_type.dialect_impl(sqlite.dialect()), sa.JSON)
    assert tables["workspaces"].c.created_at.server_default is not None
    assert tables["workspaces"].c.is_active.server_default is not None
    checks = [
        c for t in tables.values() for c in t.constraints if isinstance(c, sa.CheckConstraint)
    ]
    assert checks
    assert tables["workspaces"].comment
    assert tables["agents"].c.last_heartbeat_at.comment


def test_every_constraint_and_index_has_a_conventional_name() -> None:
    """The naming convention gives every constraint and index a deterministic name."""
    assert metadata.naming_convention == NAMING_CONVENTION
    prefixes = {
        sa.PrimaryKeyConstraint: "pk_",
        sa.ForeignKeyConstraint: "fk_",
        sa.UniqueConstraint: "uq_",
        sa.CheckConstraint: "ck_",
    }
    for table in metadata.tables.values():
        for constraint in table.constraints:
            prefix = prefixes[type(constraint)]
            assert str(constraint.name).startswith(f"{prefix}{table.name}"), constraint.name
        for index in table.indexes:
            assert str(index.name).startswith(f"ix_{table.name}"), index.name


@pytest.mark.parametrize(
    "dialect", [postgresql.dialect(), sqlite.dialect(), mysql.dialect()], ids=lambda d: d.name
)
def test_ddl_compiles_on_every_dialect(dialect: sa.Dialect) -> None:
    """Every table and index compiles to DDL on PostgreSQL, SQLite and MySQL (strings have a
    length, defaults are portable)."""
    for table in metadata.sorted_tables:
        assert f"CREATE TABLE {table.name}" in str(CreateTable(table).compile(dialect=dialect))
        for index in table.indexes:
            assert str(index.name) in str(CreateIndex(index).compile(dialect=dialect))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (MigrationStatus(database_heads=("b",), script_heads=("b",), pending=()), "at the"),
        (MigrationStatus(database_heads=(), script_heads=("b",), pending=("a", "b")), "no mig"),
        (MigrationStatus(database_heads=("a",), script_heads=("b",), pending=("b",)), "1 migr"),
        (MigrationStatus(database_heads=("x",), script_heads=("b",), pending=None), "not an"),
    ],
)
def test_migration_status_describes_itself(status: MigrationStatus, expected: str) -> None:
    """Each status reads as one line that names the script head."""
    line = status.describe()
    assert expected in line
    assert "b" in line
    assert "\n" not in line
