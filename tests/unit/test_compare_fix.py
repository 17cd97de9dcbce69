"""Fix SQL on snapshots built by hand: the statements each kind of finding gets, per dialect.

That the server accepts them and they restore the object is proven by the round trips of
tests/integration/test_fix_sql_round_trip.py; here, the text.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.compare.fix import fix_sql, statements_of, with_fixes
from driftwatch.findings import Finding, FindingKind
from driftwatch.render.document import render_json
from driftwatch.render.fix_sql import fix_script
from driftwatch.render.text import render_text
from driftwatch.report import Report, SchemaResult, TargetReport
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
)

SERVERS = {
    "postgresql": ("15.4", "public"),
    "mysql": ("10.11.6-MariaDB", "app"),
    "sqlite": ("3.40.1", "main"),
}
ID = Column(name="id", type="integer", nullable=False)
NAME = Column(name="name", type="character varying(50)", nullable=True)
USERS = Table(
    schema=None,
    name="users",
    columns=(ID, NAME),
    primary_key=PrimaryKey(name="users_pkey", columns=("id",)),
)


def snapshot(*tables: Table, dialect: str = "postgresql", **objects: object) -> Snapshot:
    version, default = SERVERS[dialect]
    return Snapshot(
        dialect=dialect,
        server_version=version,
        default_schema=default,
        scope=Scope(),
        tables=tables,
        **objects,  # type: ignore[arg-type]
    )


def users(**parts: object) -> Table:
    return replace(USERS, **parts)  # type: ignore[arg-type]


def fixes(expected: Snapshot, actual: Snapshot) -> list[tuple[str, str | None]]:
    """(kind, fix) of every finding of the diff, in report order."""
    found = with_fixes(
        diff(expected, actual, DiffOptions(compare_server_default=True)), expected, actual
    )
    return [(f.kind.value, f.fix) for f in found]


def one_fix(expected: Snapshot, actual: Snapshot) -> str | None:
    ((_, fix),) = fixes(expected, actual)
    return fix


# --- PostgreSQL ---------------------------------------------------------------------------

PARTIAL = Index(name="ix_users_name", unique=False, definition="btree (name) WHERE (id > 0)")


def test_postgresql_indexes_are_dropped_created_and_replaced() -> None:
    """An extra index is dropped, a missing one created from its definition, a changed one
    both (a partial index's WHERE included)."""
    plain = replace(PARTIAL, definition="btree (name)")
    assert one_fix(snapshot(users()), snapshot(users(indexes=(PARTIAL,)))) == (
        "DROP INDEX ix_users_name;"
    )
    assert one_fix(snapshot(users(indexes=(PARTIAL,))), snapshot(users())) == (
        "CREATE INDEX ix_users_name ON users USING btree (name) WHERE (id > 0);"
    )
    assert one_fix(snapshot(users(indexes=(PARTIAL,))), snapshot(users(indexes=(plain,)))) == (
        "DROP INDEX ix_users_name;\n"
        "CREATE INDEX ix_users_name ON users USING btree (name) WHERE (id > 0);"
    )


def test_postgresql_names_are_quoted_and_other_schemas_qualified() -> None:
    """Names that need quotes get them (reserved words, capitals, spaces); an object of a
    schema other than the default one is named with its schema."""
    odd = Table(
        schema="Sales",
        name="Order",
        columns=(Column(name="select", type="integer", nullable=True),),
        indexes=(Index(name="Odd Index", unique=True, definition='btree ("select")'),),
    )
    bare = replace(odd, indexes=())
    expected = replace(snapshot(), tables=(odd,), scope=Scope(schemas=("Sales",)))
    actual = replace(snapshot(), tables=(bare,), scope=Scope(schemas=("Sales",)))

    assert one_fix(expected, actual) == (
        'CREATE UNIQUE INDEX "Odd Index" ON "Sales"."Order" USING btree ("select");'
    )
    assert one_fix(actual, expected) == 'DROP INDEX "Sales"."Odd Index";'


def test_postgresql_constraints_are_dropped_and_added_with_their_definitions() -> None:
    """Unique, check and foreign key: the live one dropped by name, the expected one added
    as the server printed it (a changed ON DELETE is both)."""
    check = Check(name="ck_users_id", expression="CHECK ((id > 0))")
    unique = Unique(name="uq_users_name", columns=("name",), definition="UNIQUE (name)")
    fk = ForeignKey(
        name="fk_users_id", columns=("id",), referred_schema=None, referred_table="accounts",
        referred_columns=("id",), on_delete="CASCADE", deferrable="DEFERRABLE",
    )  # fmt: skip
    loose = replace(fk, on_delete=None, deferrable=None)

    assert one_fix(snapshot(users(checks=(check,))), snapshot(users())) == (
        "ALTER TABLE users ADD CONSTRAINT ck_users_id CHECK ((id > 0));"
    )
    changed = replace(check, expression="CHECK ((id > 1))")
    assert one_fix(snapshot(users(checks=(check,))), snapshot(users(checks=(changed,)))) == (
        "ALTER TABLE users DROP CONSTRAINT ck_users_id;\n"
        "ALTER TABLE users ADD CONSTRAINT ck_users_id CHECK ((id > 0));"
    )
    assert one_fix(snapshot(users()), snapshot(users(uniques=(unique,)))) == (
        "ALTER TABLE users DROP CONSTRAINT uq_users_name;"
    )
    assert one_fix(snapshot(users(foreign_keys=(fk,))), snapshot(users(foreign_keys=(loose,)))) == (
        "ALTER TABLE users DROP CONSTRAINT fk_users_id;\n"
        "ALTER TABLE users ADD CONSTRAINT fk_users_id FOREIGN KEY (id) REFERENCES accounts (id) "
        "ON DELETE CASCADE DEFERRABLE;"
    )


def test_postgresql_columns_are_altered_in_place() -> None:
    """Nullability, default, type (with USING) and comment each get their ALTER."""
    want = replace(NAME, default="'x'::character varying", comment="it's shown")
    have = replace(NAME, nullable=False, type="text")
    assert fixes(snapshot(users(columns=(ID, want))), snapshot(users(columns=(ID, have)))) == [
        ("comment_mismatch", "COMMENT ON COLUMN users.name IS 'it''s shown';"),
        (
            "default_mismatch",
            "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'::character varying;",
        ),
        ("nullable_mismatch", "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;"),
        (
            "type_mismatch",
            "ALTER TABLE users ALTER COLUMN name TYPE character varying(50) "
            "USING name::character varying(50);",
        ),
    ]
    assert fixes(snapshot(users(columns=(ID, have))), snapshot(users(columns=(ID, want))))[1] == (
        "default_mismatch",
        "ALTER TABLE users ALTER COLUMN name DROP DEFAULT;",
    )


def test_postgresql_columns_and_tables_on_one_side() -> None:
    """A missing column is added whole; an extra column or table is dropped after a line
    saying that data goes with it."""
    note = Column(name="note", type="text", nullable=False, default="''::text", comment="c")
    assert one_fix(snapshot(users(columns=(ID, NAME, note))), snapshot(users())) == (
        "ALTER TABLE users ADD COLUMN note text DEFAULT ''::text NOT NULL;\n"
        "COMMENT ON COLUMN users.note IS 'c';"
    )
    assert one_fix(snapshot(users()), snapshot(users(columns=(ID, NAME, note)))) == (
        "-- destroys data: drops column users.note and its values\n"
        "ALTER TABLE users DROP COLUMN note;"
    )
    assert one_fix(snapshot(), snapshot(users())) == (
        "-- destroys data: drops table users and its rows\nDROP TABLE users;"
    )


def test_postgresql_missing_table_is_created_with_its_sequence_indexes_and_comments() -> None:
    """A missing table comes back from its snapshot: the sequence of its serial column
    first, then the table with its constraints, then its indexes and comments."""
    serial = replace(ID, default="nextval('users_id_seq'::regclass)")
    table = users(
        columns=(serial, NAME),
        checks=(Check(name="ck", expression="CHECK ((id > 0))"),),
        indexes=(PARTIAL,),
        comment="people",
    )
    sequence = Sequence(
        schema=None,
        name="users_id_seq",
        definition="integer START 1 INCREMENT 1 MINVALUE 1 MAXVALUE 2147483647 CACHE 1",
        owned_by="users.id",
    )

    assert one_fix(snapshot(table, sequences=(sequence,)), snapshot()) == (
        "CREATE SEQUENCE IF NOT EXISTS users_id_seq AS integer START 1 INCREMENT 1 MINVALUE 1 "
        "MAXVALUE 2147483647 CACHE 1;\n"
        "CREATE TABLE users (\n"
        "    id integer DEFAULT nextval('users_id_seq'::regclass) NOT NULL,\n"
        "    name character varying(50),\n"
        "    CONSTRAINT users_pkey PRIMARY KEY (id),\n"
        "    CONSTRAINT ck CHECK ((id > 0))\n"
        ");\n"
        "ALTER SEQUENCE users_id_seq OWNED BY users.id;\n"
        "CREATE INDEX ix_users_name ON users USING btree (name) WHERE (id > 0);\n"
        "COMMENT ON TABLE users IS 'people';"
    )


def test_postgresql_primary_key_identity_and_generation() -> None:
    """A primary key is dropped by its live name and added; identity is added, dropped or
    switched; a generated column becomes a plain one keeping its values."""
    wide = PrimaryKey(name="users_pkey", columns=("id", "name"))
    assert one_fix(snapshot(users()), snapshot(users(primary_key=wide))) == (
        "ALTER TABLE users DROP CONSTRAINT users_pkey;\n"
        "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);"
    )
    always = replace(ID, identity="always")
    assert one_fix(snapshot(users(columns=(always, NAME))), snapshot(users())) == (
        "ALTER TABLE users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;"
    )
    by_default = replace(ID, identity="by default")
    assert one_fix(
        snapshot(users(columns=(always, NAME))), snapshot(users(columns=(by_default, NAME)))
    ) == ("ALTER TABLE users ALTER COLUMN id SET GENERATED ALWAYS;")
    assert one_fix(snapshot(users()), snapshot(users(columns=(always, NAME)))) == (
        "ALTER TABLE users ALTER COLUMN id DROP IDENTITY;"
    )
    computed = replace(NAME, generated="(id * 2)", generated_kind="stored")
    assert one_fix(snapshot(users()), snapshot(users(columns=(ID, computed)))) == (
        "ALTER TABLE users ALTER COLUMN name DROP EXPRESSION;"
    )


def test_postgresql_enum_labels_views_and_sequences() -> None:
    """A missing label is added in its place; a label to remove has no fix (the type must
    be rebuilt); views are replaced with the expected query; sequences altered or made."""
    mood = EnumType(schema=None, name="mood", labels=("sad", "ok", "happy"))
    short = replace(mood, labels=("sad", "happy"))
    assert one_fix(snapshot(enums=(mood,)), snapshot(enums=(short,))) == (
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ok' BEFORE 'happy';"
    )
    assert one_fix(snapshot(enums=(short,)), snapshot(enums=(mood,))) is None
    assert one_fix(snapshot(enums=(mood,)), snapshot()) == (
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');"
    )

    view = View(schema=None, name="v", definition=" SELECT users.id\n   FROM users;")
    changed = replace(view, definition=" SELECT 1;")
    assert one_fix(snapshot(views=(view,)), snapshot(views=(changed,))) == (
        "CREATE OR REPLACE VIEW v AS\n SELECT users.id\n   FROM users;"
    )
    assert one_fix(snapshot(), snapshot(views=(view,))) == "DROP VIEW v;"
    stored = replace(view, materialized=True)
    assert one_fix(snapshot(views=(stored,)), snapshot(views=(changed,))) == (
        "DROP VIEW v;\nCREATE MATERIALIZED VIEW v AS\n SELECT users.id\n   FROM users;"
    )

    counter = Sequence(schema=None, name="counter", definition="bigint START 1 INCREMENT 2")
    assert one_fix(
        snapshot(sequences=(counter,)),
        snapshot(sequences=(replace(counter, definition="bigint START 1 INCREMENT 3 CYCLE"),)),
    ) == ("ALTER SEQUENCE counter AS bigint START 1 INCREMENT 2 NO CYCLE;")
    assert one_fix(snapshot(), snapshot(sequences=(counter,))) == "DROP SEQUENCE counter;"


# --- MySQL / MariaDB ----------------------------------------------------------------------

MY_ID = Column(name="id", type="int(11)", nullable=False, identity="auto_increment")
MY_NAME = Column(name="name", type="varchar(40)", nullable=True, default="'it''s'")


def my_users(**parts: object) -> Table:
    fields: dict[str, object] = {
        "columns": (MY_ID, MY_NAME),
        "primary_key": PrimaryKey(name="PRIMARY", columns=("id",)),
    }
    fields.update(parts)
    return Table(schema=None, name="users", **fields)  # type: ignore[arg-type]


def my(*tables: Table, **objects: object) -> Snapshot:
    return snapshot(*tables, dialect="mysql", **objects)


def test_mysql_restates_a_changed_column_whole() -> None:
    """Any change of a column (here nullability, default and comment) is one MODIFY with
    the expected definition; a comment's backslash is escaped."""
    want = replace(MY_NAME, comment="back\\slash")
    have = replace(MY_NAME, nullable=False, default=None)
    for _, fix in fixes(my(my_users(columns=(MY_ID, want))), my(my_users(columns=(MY_ID, have)))):
        assert fix == (
            "ALTER TABLE users MODIFY COLUMN name varchar(40) NULL DEFAULT 'it''s' "
            "COMMENT 'back\\\\slash';"
        )
    assert one_fix(
        my(my_users()), my(my_users(columns=(replace(MY_ID, identity=None), MY_NAME)))
    ) == ("ALTER TABLE users MODIFY COLUMN id int(11) NOT NULL AUTO_INCREMENT;")


def test_mysql_indexes_foreign_keys_checks_and_keys() -> None:
    """Indexes by MySQL's syntax (prefix lengths and order kept, names quoted), foreign
    keys dropped as FOREIGN KEY, MariaDB checks as CONSTRAINT, the primary key in one go."""
    index = Index(name="order", unique=False, definition="BTREE (name(10) DESC, id) IGNORED")
    assert one_fix(my(my_users(indexes=(index,))), my(my_users())) == (
        "CREATE INDEX `order` USING BTREE ON users (name(10) DESC, id) IGNORED;"
    )
    assert one_fix(my(my_users()), my(my_users(indexes=(index,)))) == (
        "DROP INDEX `order` ON users;"
    )
    fk = ForeignKey(
        name="fk", columns=("id",), referred_schema=None, referred_table="accounts",
        referred_columns=("id",), on_delete="SET NULL",
    )  # fmt: skip
    assert one_fix(
        my(my_users(foreign_keys=(fk,))), my(my_users(foreign_keys=(replace(fk, on_delete=None),)))
    ) == (
        "ALTER TABLE users DROP FOREIGN KEY fk;\n"
        "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (id) REFERENCES accounts (id) "
        "ON DELETE SET NULL;"
    )
    check = Check(name="ck", expression="CHECK (`id` > 0)")
    assert one_fix(my(my_users()), my(my_users(checks=(check,)))) == (
        "ALTER TABLE users DROP CONSTRAINT ck;"
    )
    wide = PrimaryKey(name="PRIMARY", columns=("id", "name"))
    assert one_fix(my(my_users()), my(my_users(primary_key=wide))) == (
        "ALTER TABLE users DROP PRIMARY KEY, ADD PRIMARY KEY (id);"
    )


def test_mysql_missing_table_keeps_its_indexes_inside() -> None:
    """A missing MySQL table is created with its indexes in the CREATE TABLE (a foreign
    key then finds its index) and its comment as a table option."""
    index = Index(name="ix_name", unique=True, definition="BTREE (name)")
    table = my_users(indexes=(index,), comment="people")
    assert one_fix(my(table), my()) == (
        "CREATE TABLE users (\n"
        "    id int(11) NOT NULL AUTO_INCREMENT,\n"
        "    name varchar(40) NULL DEFAULT 'it''s',\n"
        "    PRIMARY KEY (id),\n"
        "    UNIQUE INDEX ix_name USING BTREE (name)\n"
        ") COMMENT='people';"
    )


# --- SQLite -------------------------------------------------------------------------------

SQ_ID = Column(name="id", type="INTEGER", nullable=False)
SQ_NAME = Column(name="name", type="VARCHAR(50)", nullable=True)


def sq_users(**parts: object) -> Table:
    fields: dict[str, object] = {
        "columns": (SQ_ID, SQ_NAME),
        "primary_key": PrimaryKey(name=None, columns=("id",)),
    }
    fields.update(parts)
    return Table(schema=None, name="users", **fields)  # type: ignore[arg-type]


def sq(*tables: Table, version: str = "3.40.1", **objects: object) -> Snapshot:
    return replace(snapshot(*tables, dialect="sqlite", **objects), server_version=version)


def test_sqlite_does_what_its_alter_table_can_and_nothing_else() -> None:
    """Indexes, views, added and (from 3.35) dropped columns get SQL; a change SQLite can
    only make by rebuilding the table gets none."""
    index = Index(name="ix", unique=False, definition="(name COLLATE NOCASE DESC) WHERE id > 0")
    assert one_fix(sq(sq_users(indexes=(index,))), sq(sq_users())) == (
        "CREATE INDEX ix ON users (name COLLATE NOCASE DESC) WHERE id > 0;"
    )
    note = Column(name="note", type="TEXT", nullable=False, default="''")
    assert one_fix(sq(sq_users(columns=(SQ_ID, SQ_NAME, note))), sq(sq_users())) == (
        "ALTER TABLE users ADD COLUMN note TEXT NOT NULL DEFAULT '';"
    )
    assert one_fix(sq(sq_users()), sq(sq_users(columns=(SQ_ID, SQ_NAME, note)))) == (
        "-- destroys data: drops column users.note and its values\n"
        "ALTER TABLE users DROP COLUMN note;"
    )
    old = sq(sq_users(columns=(SQ_ID, SQ_NAME, note)), version="3.31.1")
    assert one_fix(sq(sq_users(), version="3.31.1"), old) is None
    stamped = replace(note, default="CURRENT_TIMESTAMP")
    assert one_fix(sq(sq_users(columns=(SQ_ID, SQ_NAME, stamped))), sq(sq_users())) is None
    assert (
        one_fix(sq(sq_users()), sq(sq_users(columns=(SQ_ID, replace(SQ_NAME, nullable=False)))))
        is None
    )
    check = Check(name=None, expression="CHECK (id > 0)")
    assert one_fix(sq(sq_users(checks=(check,))), sq(sq_users())) is None
    view = View(schema=None, name="v", definition="SELECT id FROM users")
    assert one_fix(sq(views=(view,)), sq(views=(replace(view, definition="SELECT 1"),))) == (
        "DROP VIEW v;\nCREATE VIEW v AS\nSELECT id FROM users;"
    )


def test_sqlite_missing_table_is_created_whole() -> None:
    """A missing SQLite table is created with AUTOINCREMENT on its key, its constraints,
    then its indexes."""
    key = replace(SQ_ID, identity="autoincrement")
    unique = Unique(name="uq", columns=("name",), definition="UNIQUE (name)")
    table = sq_users(
        columns=(key, SQ_NAME),
        uniques=(unique,),
        indexes=(Index(name="ix", unique=False, definition="(name)"),),
    )
    assert one_fix(sq(table), sq()) == (
        "CREATE TABLE users (\n"
        "    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n"
        "    name VARCHAR(50),\n"
        "    CONSTRAINT uq UNIQUE (name)\n"
        ");\n"
        "CREATE INDEX ix ON users (name);"
    )


# --- what carries the fixes ---------------------------------------------------------------


def test_a_finding_without_a_fix_and_hostile_names_in_comments() -> None:
    """Kinds with no SQL get None; a name with a line break stays inside its comment line."""
    problem = Finding(
        kind=FindingKind.MODEL_NOT_CREATED, schema=None, table="?", name=None,
        expected="x", actual=None, message="x",
    )  # fmt: skip
    assert fix_sql(problem, snapshot(), snapshot()) is None
    hostile = Table(schema=None, name="t\nDROP TABLE users; --", columns=(ID,))
    fix = one_fix(snapshot(), snapshot(hostile))
    assert fix == (
        "-- destroys data: drops table t DROP TABLE users; -- and its rows\n"
        'DROP TABLE "t\nDROP TABLE users; --";'
    )


def test_statements_of_a_fix() -> None:
    """A fix splits into its statements, each without its `;`."""
    assert statements_of("DROP INDEX a;\nCREATE INDEX a ON t USING btree (x);") == [
        "DROP INDEX a",
        "CREATE INDEX a ON t USING btree (x)",
    ]


def _report(*findings: Finding) -> Report:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    target = TargetReport(
        target="shop",
        url="postgresql+asyncpg://app:***@db/shop",
        dialect="postgresql",
        started_at=now,
        duration_seconds=0.1,
        schema=SchemaResult(compared=True, findings=findings, method="snapshot"),
    )
    return Report(targets=(target,), generated_at=now)


FIXED = Finding(
    kind=FindingKind.EXTRA_INDEX, schema="public", table="users", name="ix_users_name",
    expected=None, actual="INDEX btree (name)", message="index ix_users_name on users is extra",
    fix="DROP INDEX ix_users_name;",
)  # fmt: skip
UNFIXED = replace(FIXED, kind=FindingKind.EXTRA_ENUM_VALUE, name="role", fix=None)


def test_reports_show_the_fix() -> None:
    """The text report shows a fix under its finding; JSON has it as `fix`, null for none."""
    text = render_text(_report(FIXED, UNFIXED)).splitlines()
    at = next(i for i, line in enumerate(text) if "ix_users_name" in line)
    assert text[at + 1] == f"{'':27}fix: DROP INDEX ix_users_name;"
    findings = json.loads(render_json(_report(FIXED, UNFIXED)))["targets"][0]
    assert [f["fix"] for f in findings["schema"]["findings"]] == [
        "DROP INDEX ix_users_name;",
        None,
    ]


def test_fix_script_has_a_header_per_target_and_every_finding() -> None:
    """The script names the target, says driftwatch does not run it, and gives each finding
    as a comment and its fix, or says there is none."""
    assert fix_script(_report(FIXED, UNFIXED)).splitlines() == [
        "-- driftwatch fix SQL for target shop (postgresql)",
        "-- written by driftwatch check --fix-sql and never run by driftwatch: review it, "
        "then run it yourself",
        "-- extra_index public.users.ix_users_name: index ix_users_name on users is extra",
        "DROP INDEX ix_users_name;",
        "-- extra_enum_value public.users.role: index ix_users_name on users is extra",
        "-- no fix SQL for this one",
    ]
    assert fix_script(_report()).splitlines()[2] == "-- the schema matches: nothing to fix"


@pytest.mark.parametrize("dialect", sorted(SERVERS))
def test_equal_snapshots_need_no_fix(dialect: str) -> None:
    """No finding, no fix: with_fixes of nothing is nothing."""
    assert with_fixes([], snapshot(dialect=dialect), snapshot(dialect=dialect)) == []
