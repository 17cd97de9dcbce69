"""The models' DDL, captured without a database: what it holds and what it leaves alone."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    DefaultClause,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import TypeEngine

from driftwatch.expected.models_ddl import model_statements
from driftwatch.expected.models_key import models_key
from tests.conftest import REPO_ROOT
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


def _copy_of_shop() -> MetaData:
    copy = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(copy)
    return copy


@pytest.mark.parametrize("models", ["tests.scenarios.shop.models", "control_plane.models"])
@pytest.mark.parametrize("key", ["models_key", "ddl_key"])
def test_the_models_key_is_the_same_in_another_process(models: str, key: str) -> None:
    """The cache key of the models is made without object addresses or set order (the
    Control Plane's indexes came out of create_all in another order in each process): a
    `driftwatch check` in a new process finds the snapshot the previous one cached."""
    script = (
        "from driftwatch.expected.models_ddl import ddl_key\n"
        "from driftwatch.expected.models_key import models_key\n"
        f"from {models} import metadata\n"
        f"print({key}(metadata, 'postgresql'))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT / "src")},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda md: setattr(md.tables["orders"].c.status, "type", String(99)),
        lambda md: setattr(md.tables["orders"].c.status, "nullable", True),
        lambda md: setattr(md.tables["orders"].c.status, "server_default", DefaultClause("x")),
        lambda md: Index("ix_extra", md.tables["orders"].c.status),
        lambda md: setattr(md.tables["orders"], "comment", "another comment"),
        lambda md: md.tables["orders"].append_column(Column("extra", Integer())),
    ],
)
def test_the_models_key_follows_what_reaches_the_ddl(change: Any) -> None:
    """A change of a type, a flag, a default, an index, a comment or a column is a new key."""
    changed = _copy_of_shop()
    assert models_key(changed, "postgresql") == models_key(metadata, "postgresql")
    change(changed)
    assert models_key(changed, "postgresql") != models_key(metadata, "postgresql")


def test_a_type_of_the_project_is_keyed_by_what_it_compiles_to() -> None:
    """A custom type reaches the DDL as it compiles on the dialect: another impl, another
    key; the same, the same key."""

    def with_price(impl: type[TypeEngine[Any]]) -> MetaData:
        class Money(TypeDecorator[int]):
            cache_ok = True

        Money.impl = impl
        changed = _copy_of_shop()
        changed.tables["orders"].append_column(Column("price", Money()))
        return changed

    assert models_key(with_price(Integer), "postgresql") == models_key(
        with_price(Integer), "postgresql"
    )
    assert models_key(with_price(Integer), "postgresql") != models_key(
        with_price(BigInteger), "postgresql"
    )
