"""The models' DDL, captured without a database: what it holds and what it leaves alone."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from driftwatch.expected.models_ddl import model_statements, models_key
from tests.scenarios.shop.models import metadata


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_capturing_the_statements_leaves_the_models_unchanged(dialect: str) -> None:
    """Foreign keys moved to ALTER TABLE for the scratch build stay in the models' own
    CREATE TABLE: the alembic path and later builds must see the models as written."""
    orders = metadata.tables["orders"]
    before = str(CreateTable(orders).compile(dialect=postgresql.dialect()))
    model_statements(metadata, dialect)
    assert str(CreateTable(orders).compile(dialect=postgresql.dialect())) == before
    assert "FOREIGN KEY" in before


def test_foreign_keys_come_after_every_table_except_on_sqlite() -> None:
    """PostgreSQL and MySQL get foreign keys last (ALTER TABLE); SQLite keeps them inline."""
    kinds = [type(s).__name__ for s in model_statements(metadata, "postgresql")]
    assert kinds[-1] == "AddConstraint"
    assert "AddConstraint" not in [type(s).__name__ for s in model_statements(metadata, "sqlite")]


def test_the_key_follows_the_ddl_and_the_dialect() -> None:
    """Same models, same key; another dialect's DDL, another key."""
    assert models_key(metadata, "postgresql") == models_key(metadata, "postgresql")
    assert models_key(metadata, "postgresql") != models_key(metadata, "sqlite")
