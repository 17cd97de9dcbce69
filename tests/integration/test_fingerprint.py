"""The schema fingerprint: it moves on every DDL of the watched schemas and on nothing else."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from driftwatch.check import check_target
from driftwatch.live.observe import make_engine, read_heads_and_fingerprint
from driftwatch.live.probe import read_fingerprint
from tests.support.scenarios import execute, migrate, shop_target


def fingerprint(url: URL, schemas: list[str] | None = None) -> str:
    target = shop_target(url)

    async def read() -> str:
        engine = make_engine(target)
        try:
            async with engine.connect() as conn:
                names = schemas or [str(conn.dialect.default_schema_name)]
                return await conn.run_sync(read_fingerprint, names)
        finally:
            await engine.dispose()

    return asyncio.run(read())


# DDL every dialect takes, by what it changes
COMMON_DDL = {
    "create index": "CREATE INDEX ix_fp ON users (name)",
    "add column": "ALTER TABLE users ADD COLUMN fp_extra INTEGER",
    "create table": "CREATE TABLE fp_new (id INTEGER PRIMARY KEY)",
    "drop table": "DROP TABLE orders",
}
PG_DDL = {
    "column type": "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50)",
    "not null": "ALTER TABLE users ALTER COLUMN name SET NOT NULL",
    "default": "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'",
    "table comment": "COMMENT ON TABLE users IS 'changed'",
    "column comment": "COMMENT ON COLUMN users.name IS 'changed'",
    "unique": "ALTER TABLE users ADD CONSTRAINT uq_fp UNIQUE (name)",
    "drop foreign key": "ALTER TABLE orders DROP CONSTRAINT fk_orders_user_id_users",
    "foreign key rule": "ALTER TABLE orders DROP CONSTRAINT fk_orders_user_id_users, "
    "ADD CONSTRAINT fk_orders_user_id_users FOREIGN KEY (user_id) REFERENCES users (id)",
    "drop check": "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",
    "enum label": "ALTER TYPE user_role ADD VALUE 'admin'",
}
MYSQL_DDL = {
    "column type": "ALTER TABLE users MODIFY name VARCHAR(50) NULL",
    "not null": "ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL",
    "default": "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'",
    "table comment": "ALTER TABLE users COMMENT = 'changed'",
    "column comment": "ALTER TABLE users MODIFY name VARCHAR(100) NULL COMMENT 'changed'",
    "unique": "ALTER TABLE users ADD CONSTRAINT uq_fp UNIQUE (name)",
    "drop foreign key": "ALTER TABLE orders DROP FOREIGN KEY fk_orders_user_id_users",
    "drop check": "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_not_negative",
    "add check": "ALTER TABLE users ADD CONSTRAINT ck_fp CHECK (email <> '')",
    "enum label": "ALTER TABLE users MODIFY role ENUM('customer', 'staff', 'admin') NULL",
}


def _cases() -> list[tuple[str, str, str]]:
    cases = [(d, name, sql) for d in ("postgresql", "mysql", "sqlite")
             for name, sql in COMMON_DDL.items()]  # fmt: skip
    cases += [("postgresql", name, sql) for name, sql in PG_DDL.items()]
    cases += [("mysql", name, sql) for name, sql in MYSQL_DDL.items()]
    return cases


@pytest.mark.parametrize(("dialect", "change", "sql"), _cases(), ids=lambda v: str(v)[:20])
def test_ddl_moves_the_fingerprint(
    request: pytest.FixtureRequest, dialect: str, change: str, sql: str
) -> None:
    """Each kind of DDL on a watched table changes the value; nothing else does meanwhile."""
    url: URL = request.getfixturevalue(
        {"postgresql": "pg_url", "mysql": "mysql_url", "sqlite": "sqlite_url"}[dialect]
    )
    migrate(url, "head")
    before = fingerprint(url)
    assert fingerprint(url) == before, "the value must be stable while nothing changes"
    execute(url, sql)
    assert fingerprint(url) != before, change


def test_data_vacuum_and_analyze_leave_it_alone_on_postgresql(pg_url: URL) -> None:
    """Rows written, VACUUM and ANALYZE are not schema changes: the value stays."""
    migrate(pg_url, "head")
    before = fingerprint(pg_url)
    execute(pg_url, "INSERT INTO users (email, name) VALUES ('a@example.org', 'a')")
    execute(pg_url, "UPDATE users SET name = 'b'")
    execute(pg_url, "ANALYZE users")
    assert fingerprint(pg_url) == before
    import asyncpg  # noqa: PLC0415 - VACUUM cannot run inside a transaction block

    from tests.support.servers import asyncpg_dsn  # noqa: PLC0415

    async def vacuum() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            await conn.execute("VACUUM (ANALYZE) users")
            await conn.execute("VACUUM")
        finally:
            await conn.close()

    asyncio.run(vacuum())
    assert fingerprint(pg_url) == before
    # VACUUM FULL rewrites the table under a new file: that is a catalog change, and the
    # value moves (one extra comparison, never a missed one)


def test_reverted_changes_on_postgresql(pg_url: URL) -> None:
    """A change and its revert either move the value (rows rewritten) or give it back exactly
    when every catalog row is as it was: either way no change is missed."""
    migrate(pg_url, "head")
    before = fingerprint(pg_url)
    execute(pg_url, "CREATE INDEX ix_fp ON users (name)", "DROP INDEX ix_fp")
    assert fingerprint(pg_url) == before  # the index's rows are gone, the table's untouched
    execute(pg_url, "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(50)")
    changed = fingerprint(pg_url)
    execute(pg_url, "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(100)")
    assert fingerprint(pg_url) not in (before, changed)  # rewritten rows: a new value


def test_only_watched_schemas_count_on_postgresql(pg_url: URL) -> None:
    """DDL in a schema the target does not watch leaves the value alone; in one it watches,
    it moves it."""
    migrate(pg_url, "head")
    execute(pg_url, "CREATE SCHEMA other")
    before = fingerprint(pg_url, ["public"])
    both = fingerprint(pg_url, ["public", "other"])
    execute(pg_url, "CREATE TABLE other.t (id integer)")
    assert fingerprint(pg_url, ["public"]) == before
    assert fingerprint(pg_url, ["public", "other"]) != both


def test_enum_values_move_it_on_postgresql(pg_url: URL) -> None:
    """A new value of a native enum type is a schema change."""
    migrate(pg_url, "head")
    execute(pg_url, "CREATE TYPE mood AS ENUM ('happy')")
    before = fingerprint(pg_url)
    execute(pg_url, "ALTER TYPE mood ADD VALUE 'sad'")
    assert fingerprint(pg_url) != before


def test_one_shot_check_reads_no_fingerprint(any_url: URL) -> None:
    """`driftwatch check` compares nothing with a later check: no fingerprint query is sent;
    a check the daemon keeps (max_age_seconds) reads it before and after the comparison."""
    migrate(any_url, "head")
    target = shop_target(any_url)

    async def statements_of(**options: float) -> tuple[list[str], str | None]:
        engine = make_engine(target)
        sent: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: sent.append(str(a[2])))
        try:
            report = await check_target(target, engine=engine, **options)
        finally:
            await engine.dispose()
        assert report.error is None, report.error
        return sent, report.fingerprint

    def fingerprint_reads(sent: list[str]) -> int:
        markers = ("md5(coalesce(string_agg", "SUM(CRC32(x))", "PRAGMA schema_version")
        return sum(any(m in statement for m in markers) for statement in sent)

    one_shot, none = asyncio.run(statements_of())
    kept, value = asyncio.run(statements_of(max_age_seconds=60))

    assert (fingerprint_reads(one_shot), none) == (0, None)
    assert fingerprint_reads(kept) == 2 and value is not None


def heads_and_fingerprint(url: URL) -> tuple[tuple[str, ...] | None, str, int]:
    """What a tick reads, and how many statements it took."""
    target = shop_target(url)
    statements: list[str] = []

    async def read() -> tuple[tuple[str, ...] | None, str]:
        engine = make_engine(target)
        event.listen(
            engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
        )
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                names = [str(conn.dialect.default_schema_name)]
                found = await conn.run_sync(read_heads_and_fingerprint, target, names)
                assert found.fingerprint is not None and not found.migrating
                return found.heads, found.fingerprint
        finally:
            await engine.dispose()

    heads, found = asyncio.run(read())
    return heads, found, len(statements)


@pytest.mark.postgres
def test_a_tick_reads_heads_and_fingerprint_in_one_statement_on_postgresql(pg_url: URL) -> None:
    """The version table and the fingerprint in one statement, the same values as apart;
    with no version table, the tick asks one question at a time and says so."""
    heads, found, statements = heads_and_fingerprint(pg_url)
    assert (heads, found) == (None, fingerprint(pg_url))
    assert statements > 1
    migrate(pg_url, "head")
    heads, found, statements = heads_and_fingerprint(pg_url)
    assert heads is not None and len(heads) == 1
    assert found == fingerprint(pg_url)
    assert statements == 1
