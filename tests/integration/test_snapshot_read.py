"""Schema snapshots read from real servers: what each dialect's reader makes of every kind of
object, the scope, a number of statements that does not grow with the tables, the JSON round
trip, and equal snapshots of databases of different names or built in another order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from driftwatch.live.snapshot import read_snapshot
from driftwatch.snapshot import (
    Check,
    Column,
    EnumType,
    ForeignKey,
    Index,
    PrimaryKey,
    Scope,
    Sequence,
    Snapshot,
    Table,
    Unique,
    View,
    from_json,
    to_json,
)
from tests.support.scenarios import execute
from tests.support.servers import Server, create_database, drop_database, new_database_name

DIALECTS = ("postgresql", "mysql", "sqlite")
URL_FIXTURES = {"postgresql": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}
EXCLUDED = "secret_stuff"
SCOPE = Scope(exclude=("secret_*",))

Statements = list[tuple[str, Any]]

# --- every kind of object, per dialect ------------------------------------------------------

PG_DDL = (
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
    "CREATE SEQUENCE invoice_numbers START 100 INCREMENT 10",
    """CREATE TABLE parents (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        code varchar(20) NOT NULL DEFAULT 'x',
        name text COLLATE "C",
        price numeric(10, 2) CONSTRAINT ck_price CHECK (price > 0),
        total numeric GENERATED ALWAYS AS (price * 2) STORED,
        feeling mood DEFAULT 'ok',
        CONSTRAINT uq_code UNIQUE (code))""",
    "COMMENT ON TABLE parents IS 'the parents'",
    "COMMENT ON COLUMN parents.code IS 'business code'",
    """CREATE TABLE children (
        id serial PRIMARY KEY,
        parent_id integer,
        other_id integer,
        CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parents (id)
            ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        CONSTRAINT fk_other FOREIGN KEY (other_id) REFERENCES parents (id) ON UPDATE SET NULL)""",
    """CREATE INDEX ix_parents_lower_name ON parents (lower(name) DESC) INCLUDE (code)
        WHERE price > 10""",
    "CREATE VIEW cheap AS SELECT id, code FROM parents WHERE price < 5",
    "COMMENT ON VIEW cheap IS 'cheap ones'",
    "CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM children",
    f"CREATE TABLE {EXCLUDED} (id integer PRIMARY KEY, note text)",
)

MYSQL_DDL = (
    """CREATE TABLE parents (
        id INT AUTO_INCREMENT PRIMARY KEY,
        code VARCHAR(20) NOT NULL DEFAULT 'x',
        quantity INT DEFAULT 0,
        note VARCHAR(50) DEFAULT NULL,
        touched TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        doc JSON,
        price DECIMAL(10, 2) CHECK (price > 0),
        doubled INT AS (quantity * 2) VIRTUAL,
        upper_code VARCHAR(20) AS (UPPER(code)) STORED,
        exact_name VARCHAR(30) COLLATE utf8mb4_bin COMMENT 'case matters',
        CONSTRAINT uq_code UNIQUE (code),
        CONSTRAINT ck_quantity CHECK (quantity >= 0)
    ) COMMENT 'the parents' DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci""",
    "CREATE INDEX ix_parents_code_quantity ON parents (code(10) DESC, quantity)",
    "CREATE UNIQUE INDEX ux_parents_exact_name ON parents (exact_name)",
    """CREATE TABLE children (
        id INT PRIMARY KEY,
        parent_id INT,
        other_id INT,
        CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE,
        CONSTRAINT fk_other FOREIGN KEY (other_id) REFERENCES parents (id)
            ON UPDATE SET NULL ON DELETE RESTRICT
    ) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci""",
    "CREATE VIEW cheap AS SELECT id, code FROM parents WHERE price < 5",
    f"CREATE TABLE {EXCLUDED} (id INT PRIMARY KEY, note TEXT)",
)

SQLITE_DDL = (
    """CREATE TABLE parents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code VARCHAR(20) NOT NULL DEFAULT 'x CHECK (1)',
        quantity INTEGER CHECK (quantity >= 0),
        doubled INTEGER GENERATED ALWAYS AS (quantity * 2) VIRTUAL,
        upper_code TEXT AS (upper(code)) STORED,
        name TEXT COLLATE NOCASE,
        CONSTRAINT uq_code UNIQUE (code),
        CONSTRAINT "ck two" CHECK (length(name) < 10 AND (quantity, 1) != (0, 0)))""",
    "CREATE INDEX ix_parents_lower_name ON parents (lower(name) DESC, quantity) WHERE quantity > 0",
    "CREATE UNIQUE INDEX ux_parents_upper_code ON parents (upper_code)",
    """CREATE TABLE children (
        id INTEGER NOT NULL,
        parent_id INTEGER CONSTRAINT fk_parent REFERENCES parents
            ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        parent_code VARCHAR(20),
        other_id INTEGER UNIQUE,
        CONSTRAINT pk_children PRIMARY KEY (id),
        FOREIGN KEY (other_id, parent_code) REFERENCES parents (id, code) ON UPDATE SET NULL)""",
    "CREATE VIEW cheap (n) AS SELECT id FROM parents WHERE quantity < 5",
    f"CREATE TABLE {EXCLUDED} (id INTEGER PRIMARY KEY, note TEXT)",
)

DDL = {"postgresql": PG_DDL, "mysql": MYSQL_DDL, "sqlite": SQLITE_DDL}


# --- helpers --------------------------------------------------------------------------------


async def _read(url: URL, scope: Scope) -> tuple[Snapshot, Statements]:
    engine = create_async_engine(url, poolclass=NullPool)
    statements: Statements = []

    def record(*args: Any) -> None:  # conn, cursor, statement, parameters, context, many
        statements.append((args[2], args[3]))

    try:
        async with engine.connect() as conn:
            # connected first: what the dialect runs on connecting is not the reader's
            event.listen(engine.sync_engine, "before_cursor_execute", record)
            snapshot = await conn.run_sync(read_snapshot, scope)
    finally:
        await engine.dispose()
    return snapshot, statements


def read(url: URL, scope: Scope = SCOPE) -> tuple[Snapshot, Statements]:
    """The snapshot of the database at `url`, and the statements its reading executed."""
    return asyncio.run(_read(url, scope))


def snapshot_of(url: URL, scope: Scope = SCOPE) -> Snapshot:
    return read(url, scope)[0]


def table(snapshot: Snapshot, name: str) -> Table:
    return next(t for t in snapshot.tables if t.name == name)


def tables_ddl(first: int, last: int) -> list[str]:
    """Tables t<first>..t<last - 1>, each with a key, a unique, a check, an index and a foreign
    key to t0: the detail queries all have rows to return."""
    statements = []
    for i in range(first, last):
        reference = ", FOREIGN KEY (parent_id) REFERENCES t0 (id)" if i else ""
        statements += [
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, code VARCHAR(20) UNIQUE, "
            f"value INTEGER CHECK (value > 0), parent_id INTEGER{reference})",
            f"CREATE INDEX ix_t{i}_value ON t{i} (value)",
        ]
    return statements


@pytest.fixture
def other_mysql_url(my_server: Server | str) -> Iterator[URL]:
    """A second MySQL/MariaDB database, of another name than `mysql_url`'s."""
    assert isinstance(my_server, Server), my_server
    name = new_database_name()
    url = create_database(my_server, name)
    try:
        yield url
    finally:
        drop_database(my_server, name)


def _url(request: pytest.FixtureRequest, dialect: str) -> URL:
    url: URL = request.getfixturevalue(URL_FIXTURES[dialect])
    return url


# --- what each reader makes of every kind of object ----------------------------------------


def test_postgresql_objects_are_read_as_the_server_prints_them(pg_url: URL) -> None:
    """Columns (identity, generated, collation, enum type, comments), keys, constraints with
    their rules, indexes with expression, order, INCLUDE and WHERE, views, enums and
    sequences are read as PostgreSQL deparses them, the default schema as None."""
    execute(pg_url, *PG_DDL)

    snapshot = snapshot_of(pg_url)

    assert (snapshot.dialect, snapshot.default_schema) == ("postgresql", "public")
    assert snapshot.server_major is not None
    assert [t.name for t in snapshot.tables] == ["children", "parents"]
    assert table(snapshot, "parents") == Table(
        schema=None,
        name="parents",
        columns=(
            Column(name="id", type="integer", nullable=False, identity="always"),
            Column(
                name="code",
                type="character varying(20)",
                nullable=False,
                default="'x'::character varying",
                comment="business code",
            ),
            Column(name="name", type="text", nullable=True, collation="C"),
            Column(name="price", type="numeric(10,2)", nullable=True),
            Column(
                name="total",
                type="numeric",
                nullable=True,
                generated="(price * (2)::numeric)",
                generated_kind="stored",
            ),
            Column(name="feeling", type="mood", nullable=True, default="'ok'::mood"),
        ),
        primary_key=PrimaryKey(name="parents_pkey", columns=("id",)),
        uniques=(Unique(name="uq_code", columns=("code",), definition="UNIQUE (code)"),),
        checks=(Check(name="ck_price", expression="CHECK (price > 0::numeric)"),),
        indexes=(
            Index(
                name="ix_parents_lower_name",
                unique=False,
                definition="btree (lower(name) DESC) INCLUDE (code) WHERE (price > (10)::numeric)",
            ),
        ),
        comment="the parents",
    )
    assert table(snapshot, "children").foreign_keys == (
        ForeignKey(
            name="fk_other",
            columns=("other_id",),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id",),
            on_update="SET NULL",
        ),
        ForeignKey(
            name="fk_parent",
            columns=("parent_id",),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id",),
            on_delete="CASCADE",
            deferrable="DEFERRABLE INITIALLY DEFERRED",
        ),
    )
    assert snapshot.views == (
        View(
            schema=None,
            name="cheap",
            definition="SELECT parents.id,\n    parents.code\n   FROM parents\n"
            "  WHERE parents.price < 5::numeric;",
            comment="cheap ones",
        ),
        View(
            schema=None,
            name="totals",
            definition="SELECT count(*) AS n\n   FROM children;",
            materialized=True,
        ),
    )
    assert snapshot.enums == (EnumType(schema=None, name="mood", labels=("sad", "ok", "happy")),)
    assert snapshot.sequences == (
        Sequence(
            schema=None,
            name="children_id_seq",
            definition="integer START 1 INCREMENT 1 MINVALUE 1 MAXVALUE 2147483647 CACHE 1",
            owned_by="children.id",
        ),
        Sequence(
            schema=None,
            name="invoice_numbers",
            definition="bigint START 100 INCREMENT 10 MINVALUE 1 "
            "MAXVALUE 9223372036854775807 CACHE 1",
        ),
    )


def test_mysql_objects_are_read_as_the_server_reports_them(mysql_url: URL) -> None:
    """Columns (auto_increment, defaults normalised, ON UPDATE, generated, collation other
    than the table's, comments), unique indexes as indexes, prefix and DESC keys, foreign-key
    rules with the default as None, CHECK constraints without MariaDB's json_valid(), and
    views without the database's name are read, the database as schema None."""
    execute(mysql_url, *MYSQL_DDL)

    snapshot = snapshot_of(mysql_url)

    assert (snapshot.dialect, snapshot.default_schema) == ("mysql", mysql_url.database)
    assert [t.name for t in snapshot.tables] == ["children", "parents"]
    parents = table(snapshot, "parents")
    integer = parents.columns[0].type  # int(11) on MariaDB, int on MySQL 8
    assert parents == Table(
        schema=None,
        name="parents",
        columns=(
            Column(name="id", type=integer, nullable=False, identity="auto_increment"),
            Column(name="code", type="varchar(20)", nullable=False, default="'x'"),
            Column(name="quantity", type=integer, nullable=True, default="0"),
            Column(name="note", type="varchar(50)", nullable=True),
            Column(
                name="touched",
                type="timestamp",
                nullable=False,
                default="current_timestamp() ON UPDATE current_timestamp()",
            ),
            Column(name="doc", type="longtext", nullable=True, collation="utf8mb4_bin"),
            Column(name="price", type="decimal(10,2)", nullable=True),
            Column(
                name="doubled",
                type=integer,
                nullable=True,
                generated="`quantity` * 2",
                generated_kind="virtual",
            ),
            Column(
                name="upper_code",
                type="varchar(20)",
                nullable=True,
                generated="ucase(`code`)",
                generated_kind="stored",
            ),
            Column(
                name="exact_name",
                type="varchar(30)",
                nullable=True,
                collation="utf8mb4_bin",
                comment="case matters",
            ),
        ),
        primary_key=PrimaryKey(name="PRIMARY", columns=("id",)),
        checks=(
            Check(name="ck_quantity", expression="CHECK (`quantity` >= 0)"),
            Check(name="price", expression="CHECK (`price` > 0)"),
        ),
        indexes=(
            Index(
                name="ix_parents_code_quantity",
                unique=False,
                definition="BTREE (code(10) DESC, quantity)",
            ),
            Index(name="uq_code", unique=True, definition="BTREE (code)"),
            Index(name="ux_parents_exact_name", unique=True, definition="BTREE (exact_name)"),
        ),
        comment="the parents",
    )
    children = table(snapshot, "children")
    assert children.foreign_keys == (
        ForeignKey(
            name="fk_other",
            columns=("other_id",),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id",),
            on_update="SET NULL",
        ),
        ForeignKey(
            name="fk_parent",
            columns=("parent_id",),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id",),
            on_delete="CASCADE",
        ),
    )
    # InnoDB indexes every foreign key, under the constraint's name where none existed
    assert children.indexes == (
        Index(name="fk_other", unique=False, definition="BTREE (other_id)"),
        Index(name="fk_parent", unique=False, definition="BTREE (parent_id)"),
    )
    assert snapshot.views == (
        View(
            schema=None,
            name="cheap",
            definition="select `parents`.`id` AS `id`,`parents`.`code` AS `code` "
            "from `parents` where `parents`.`price` < 5",
        ),
    )
    assert (snapshot.enums, snapshot.sequences) == ((), ())


def test_sqlite_objects_are_read_from_pragmas_and_create_statements(sqlite_url: URL) -> None:
    """Declared types, stored defaults, AUTOINCREMENT, generated columns with their
    expression, COLLATE, named and unnamed UNIQUE and CHECK constraints (a CHECK inside a
    string default is none), foreign keys with rules, DEFERRABLE and the implicit referred
    primary key, expression, DESC and partial indexes, and views are read."""
    execute(sqlite_url, *SQLITE_DDL)

    snapshot = snapshot_of(sqlite_url)

    assert (snapshot.dialect, snapshot.default_schema) == ("sqlite", "main")
    assert [t.name for t in snapshot.tables] == ["children", "parents"]
    assert table(snapshot, "parents") == Table(
        schema=None,
        name="parents",
        columns=(
            Column(name="id", type="INTEGER", nullable=True, identity="autoincrement"),
            Column(name="code", type="VARCHAR(20)", nullable=False, default="'x CHECK (1)'"),
            Column(name="quantity", type="INTEGER", nullable=True),
            Column(
                name="doubled",
                type="INTEGER",
                nullable=True,
                generated="quantity * 2",
                generated_kind="virtual",
            ),
            Column(
                name="upper_code",
                type="TEXT",
                nullable=True,
                generated="upper(code)",
                generated_kind="stored",
            ),
            Column(name="name", type="TEXT", nullable=True, collation="NOCASE"),
        ),
        primary_key=PrimaryKey(name=None, columns=("id",)),
        uniques=(Unique(name="uq_code", columns=("code",), definition="UNIQUE (code)"),),
        checks=(
            Check(name=None, expression="CHECK (quantity >= 0)"),
            Check(
                name="ck two",
                expression="CHECK (length(name) < 10 AND (quantity, 1) != (0, 0))",
            ),
        ),
        indexes=(
            Index(
                name="ix_parents_lower_name",
                unique=False,
                definition="(lower(name) DESC, quantity) WHERE quantity > 0",
            ),
            Index(name="ux_parents_upper_code", unique=True, definition="(upper_code)"),
        ),
    )
    children = table(snapshot, "children")
    assert children.primary_key == PrimaryKey(name="pk_children", columns=("id",))
    assert children.uniques == (
        Unique(name=None, columns=("other_id",), definition="UNIQUE (other_id)"),
    )
    assert children.foreign_keys == (
        ForeignKey(
            name=None,
            columns=("other_id", "parent_code"),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id", "code"),
            on_update="SET NULL",
        ),
        ForeignKey(
            name="fk_parent",
            columns=("parent_id",),
            referred_schema=None,
            referred_table="parents",
            referred_columns=("id",),
            on_delete="CASCADE",
            deferrable="DEFERRABLE INITIALLY DEFERRED",
        ),
    )
    assert snapshot.views == (
        View(schema=None, name="cheap", definition="SELECT id FROM parents WHERE quantity < 5"),
    )


# --- scope, statements, JSON ----------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_table_out_of_scope_is_absent_and_never_named(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    """A table the scope excludes is not in the snapshot, and no statement names it."""
    url = _url(request, dialect)
    execute(url, *DDL[dialect])

    snapshot, statements = read(url)
    everything = snapshot_of(url, Scope())

    assert EXCLUDED not in [t.name for t in snapshot.tables]
    assert EXCLUDED in [t.name for t in everything.tables]
    assert not [s for s in statements if EXCLUDED in f"{s[0]} {s[1]}"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_number_of_statements_does_not_grow_with_the_tables(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    """Reading 30 tables executes as many statements as reading 2 (at most 10)."""
    url = _url(request, dialect)
    execute(url, *tables_ddl(0, 2))
    few, few_statements = read(url)
    execute(url, *tables_ddl(2, 30))
    many, many_statements = read(url)

    assert (len(few.tables), len(many.tables)) == (2, 30)
    assert all(t.indexes and t.checks for t in many.tables)
    assert len(many_statements) == len(few_statements) <= 10, many_statements


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_snapshot_survives_its_json_round_trip(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    """to_json, through JSON text, then from_json gives back an equal snapshot."""
    url = _url(request, dialect)
    execute(url, *DDL[dialect])
    snapshot = snapshot_of(url)

    again = from_json(json.loads(json.dumps(to_json(snapshot))), origin="test")

    assert again == snapshot


# --- equal schemas, equal snapshots ---------------------------------------------------------


def test_mysql_databases_of_different_names_give_equal_snapshots(
    mysql_url: URL, other_mysql_url: URL
) -> None:
    """The same DDL in two databases of different names gives the same snapshot: the
    database is schema None, in foreign keys and view definitions too; only the name kept
    for display differs."""
    execute(mysql_url, *MYSQL_DDL)
    execute(other_mysql_url, *MYSQL_DDL)

    one, other = snapshot_of(mysql_url), snapshot_of(other_mysql_url)

    assert one.default_schema != other.default_schema
    assert replace(one, default_schema=None) == replace(other, default_schema=None)


@pytest.fixture
def other_pg_url(pg_server: Server | str) -> Iterator[URL]:
    """A second PostgreSQL database."""
    assert isinstance(pg_server, Server), pg_server
    name = new_database_name()
    url = create_database(pg_server, name)
    try:
        yield url
    finally:
        drop_database(pg_server, name)


def test_postgresql_objects_created_in_another_order_give_an_equal_snapshot(
    pg_url: URL, other_pg_url: URL
) -> None:
    """Constraints and indexes added in the opposite order (a migration chain against one
    CREATE TABLE) give the same snapshot: each kind is sorted by name."""
    execute(
        pg_url,
        "CREATE TABLE p (id integer PRIMARY KEY, a integer, b integer)",
        """CREATE TABLE c (id integer PRIMARY KEY, x integer, y integer,
            CONSTRAINT ck_a CHECK (x > 0), CONSTRAINT ck_b CHECK (y > 0),
            CONSTRAINT uq_a UNIQUE (x), CONSTRAINT uq_b UNIQUE (y),
            CONSTRAINT fk_a FOREIGN KEY (x) REFERENCES p (id),
            CONSTRAINT fk_b FOREIGN KEY (y) REFERENCES p (id))""",
        "CREATE INDEX ix_a ON c (x, y)",
        "CREATE INDEX ix_b ON c (y, x)",
    )
    execute(
        other_pg_url,
        "CREATE TABLE p (id integer PRIMARY KEY, a integer, b integer)",
        "CREATE TABLE c (id integer PRIMARY KEY, x integer, y integer)",
        "CREATE INDEX ix_b ON c (y, x)",
        "CREATE INDEX ix_a ON c (x, y)",
        "ALTER TABLE c ADD CONSTRAINT fk_b FOREIGN KEY (y) REFERENCES p (id)",
        "ALTER TABLE c ADD CONSTRAINT fk_a FOREIGN KEY (x) REFERENCES p (id)",
        "ALTER TABLE c ADD CONSTRAINT uq_b UNIQUE (y)",
        "ALTER TABLE c ADD CONSTRAINT uq_a UNIQUE (x)",
        "ALTER TABLE c ADD CONSTRAINT ck_b CHECK (y > 0)",
        "ALTER TABLE c ADD CONSTRAINT ck_a CHECK (x > 0)",
    )

    one, other = snapshot_of(pg_url), snapshot_of(other_pg_url)

    assert [i.name for i in table(one, "c").indexes] == ["ix_a", "ix_b"]
    assert one == other


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_scope_naming_the_default_schema_watches_it(
    request: pytest.FixtureRequest, dialect: str
) -> None:
    """A scope that names the default schema (public, the URL's database, main) reads what a
    scope saying None reads, and the snapshot records it as None."""
    url = _url(request, dialect)
    execute(url, *DDL[dialect])
    named = {"postgresql": "public", "mysql": str(url.database), "sqlite": "main"}[dialect]

    by_name = snapshot_of(url, Scope(schemas=(named,), exclude=SCOPE.exclude))

    assert [t.name for t in by_name.tables] == ["children", "parents"]
    assert by_name == snapshot_of(url)


def test_a_serial_sequence_follows_its_table_in_and_out_of_scope(pg_url: URL) -> None:
    """The sequence a serial column owns is read with its table, whatever its own name,
    and left out with it."""
    execute(pg_url, *PG_DDL)

    only_children = snapshot_of(pg_url, Scope(include=("children",)))
    without_children = snapshot_of(pg_url, Scope(exclude=("children",)))

    assert [s.name for s in only_children.sequences] == ["children_id_seq"]
    assert [s.name for s in without_children.sequences] == ["invoice_numbers"]
