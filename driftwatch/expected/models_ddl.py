"""The models' schema materialised in a scratch database, statement by statement.

`create_all` stops at the first statement the server refuses, and real models hold some (a
foreign key to a non-unique column, an index without columns, a duplicate index name). So
the statements `create_all` would run are captured first (a mock engine: no database), then
run one by one in autocommit mode; each refused statement becomes a problem of the models'
snapshot (a `model_not_created` finding) and the rest of the schema is still built. Foreign
keys are added after every table exists (ALTER TABLE), so one refused foreign key costs
only itself and cycles need no special case; SQLite, which cannot add a constraint to a
table, keeps them inline.

The statements' text also names the models' schema for the snapshot cache (`ddl_key`): it
changes exactly when the DDL the models produce changes; `models_key` falls back to it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import MetaData, Table, create_mock_engine
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.schema import (
    AddConstraint,
    CreateSchema,
    CreateTable,
    ExecutableDDLElement,
)

MOCK_URLS = {
    "postgresql": "postgresql+asyncpg://",
    "mysql": "mysql+aiomysql://",
    "sqlite": "sqlite+aiosqlite://",
}
KEY_FORMAT = "models-ddl-2"  # changes when what the key covers changes


def model_statements(metadata: MetaData, dialect_name: str) -> list[ExecutableDDLElement]:
    """What `create_all` runs for `dialect_name`, in its order, then the foreign keys."""
    captured: list[ExecutableDDLElement] = []

    def executor(statement: Any, *_args: Any, **_kwargs: Any) -> None:
        captured.append(statement)

    metadata.create_all(create_mock_engine(MOCK_URLS[dialect_name], executor), checkfirst=False)
    if dialect_name == "sqlite":
        return captured
    statements: list[ExecutableDDLElement] = []
    foreign_keys: list[ExecutableDDLElement] = []
    for statement in captured:
        if isinstance(statement, CreateTable):
            table = statement.element
            statements.append(CreateTable(table, include_foreign_key_constraints=[]))
            # isolate_from_table=False: by default AddConstraint marks the constraint for good
            # as not part of its CREATE TABLE, which would change the models for the next use
            foreign_keys.extend(
                AddConstraint(fk, isolate_from_table=False) for fk in _foreign_keys(table)
            )
        else:
            statements.append(statement)
    schemas = sorted({t.schema for t in metadata.tables.values() if t.schema is not None})
    return [*(CreateSchema(s, if_not_exists=True) for s in schemas), *statements, *foreign_keys]


def _foreign_keys(table: Table) -> list[Any]:
    return sorted(table.foreign_key_constraints, key=lambda fk: fk.name or "")


def ddl_key(metadata: MetaData, dialect_name: str) -> str:
    """A content hash of the DDL the models produce on `dialect_name` (seconds at 5000
    tables: see `models_key`). The statements are hashed in sorted order: create_all walks
    a table's indexes as a set, in another order in each process."""
    dialect = create_mock_engine(MOCK_URLS[dialect_name], lambda *_a, **_k: None).dialect
    digest = hashlib.sha256(KEY_FORMAT.encode())
    texts = sorted(
        str(statement.compile(dialect=dialect))
        for statement in model_statements(metadata, dialect_name)
    )
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def materialise(conn: Connection, metadata: MetaData) -> tuple[str, ...]:
    """Build the models' schema on `conn` (autocommit); return the statements refused."""
    problems: list[str] = []
    failed: set[Table] = set()
    for statement in model_statements(metadata, conn.dialect.name):
        table = _table_of(statement)
        if table is not None and table in failed:
            continue  # its table was refused: saying so once is enough
        try:
            conn.execute(statement)
        except (DBAPIError, SQLAlchemyError) as exc:
            if isinstance(statement, CreateTable):
                failed.add(statement.element)
            problems.append(f"{_describe(statement, conn.dialect)}: {_reason(exc)}")
    return tuple(problems)


def _table_of(statement: ExecutableDDLElement) -> Table | None:
    element = getattr(statement, "element", None)
    if isinstance(element, Table):
        return element
    table = getattr(element, "table", None)
    return table if isinstance(table, Table) else None


def _describe(statement: ExecutableDDLElement, dialect: Dialect) -> str:
    text = " ".join(str(statement.compile(dialect=dialect)).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    line = lines[0] if lines else type(cause).__name__
    # asyncpg's messages come wrapped: "<class '...'>: the message"
    return line.split(">: ", 1)[-1][:300]
