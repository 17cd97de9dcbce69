"""What SQLite keeps only in its CREATE statements, read from their text."""

from __future__ import annotations

from driftwatch.live.sqlite_ddl import (
    ColumnText,
    ForeignKeyText,
    check_constraints,
    parse_index,
    parse_table,
    view_query,
)


def test_check_constraints_of_columns_and_table_in_the_order_written() -> None:
    """Unnamed and named CHECKs, on a column or the table, keep their text as written,
    nested parentheses and line breaks included."""
    sql = """CREATE TABLE t (
        a INTEGER CHECK (a > 0),
        b TEXT CONSTRAINT ck_b CHECK (length(b) < (10 + a)),
        CONSTRAINT "ck two" CHECK (a IN (1, 2)
            OR b IS NULL),
        CHECK(a <> 3))"""

    assert check_constraints(sql) == [
        (None, "a > 0"),
        ("ck_b", "length(b) < (10 + a)"),
        ("ck two", "a IN (1, 2)\n            OR b IS NULL"),
        (None, "a <> 3"),
    ]


def test_check_in_strings_names_and_comments_is_no_constraint() -> None:
    """A CHECK ( inside a string literal, a quoted name or a comment is not a constraint, and
    a parenthesis inside a string does not end one."""
    sql = """CREATE TABLE "CHECK (x)" (
        a TEXT DEFAULT 'CHECK (1)', -- CHECK (2)
        [CHECK (3)] INTEGER, /* CHECK (4) */
        b TEXT CHECK (b <> ')'))"""

    assert check_constraints(sql) == [(None, "b <> ')'")]


def test_columns_say_collation_generation_and_autoincrement() -> None:
    """COLLATE, GENERATED ALWAYS AS (...) or bare AS (...), and AUTOINCREMENT are read per
    column, keyed by the column's name in lower case."""
    sql = """CREATE TABLE t (
        "Id" INTEGER PRIMARY KEY ASC AUTOINCREMENT,
        name TEXT NOT NULL COLLATE NOCASE DEFAULT ('a' || 'b'),
        twice INTEGER GENERATED ALWAYS AS (length(name) * 2) STORED,
        upper_name TEXT AS (upper(name)))"""

    assert parse_table(sql).columns == {
        "id": ColumnText(autoincrement=True),
        "name": ColumnText(collation="NOCASE"),
        "twice": ColumnText(generated="length(name) * 2"),
        "upper_name": ColumnText(generated="upper(name)"),
    }


def test_table_primary_key_with_autoincrement_and_its_name() -> None:
    """PRIMARY KEY (id AUTOINCREMENT) as a table constraint marks the column, and the
    constraint's name is kept."""
    parsed = parse_table(
        "CREATE TABLE t (id INTEGER, CONSTRAINT pk_t PRIMARY KEY (id AUTOINCREMENT))"
    )

    assert parsed.primary_key_name == "pk_t"
    assert parsed.columns["id"].autoincrement


def test_uniques_and_foreign_keys_keep_their_names_and_deferrability() -> None:
    """UNIQUE and REFERENCES on a column or the table keep the name of the CONSTRAINT
    before them, and DEFERRABLE as PostgreSQL would say it; a named NOT NULL does not lend
    its name to what follows, and ON ... SET NULL is no NOT NULL."""
    sql = """CREATE TABLE t (
        a INTEGER CONSTRAINT nn NOT NULL UNIQUE,
        b INTEGER NOT NULL CONSTRAINT fk_b REFERENCES p (id) ON DELETE SET NULL
            DEFERRABLE INITIALLY DEFERRED,
        c INTEGER REFERENCES p ON UPDATE NO ACTION MATCH SIMPLE NOT DEFERRABLE,
        CONSTRAINT uq_bc UNIQUE (b, "c"),
        FOREIGN KEY (a, b) REFERENCES "P" (x, y) DEFERRABLE INITIALLY IMMEDIATE)"""

    parsed = parse_table(sql)

    assert parsed.uniques == ((None, ("a",)), ("uq_bc", ("b", "c")))
    assert parsed.foreign_keys == (
        ForeignKeyText(
            name="fk_b",
            columns=("b",),
            referred_table="p",
            deferrable="DEFERRABLE INITIALLY DEFERRED",
        ),
        ForeignKeyText(name=None, columns=("c",), referred_table="p", deferrable=None),
        ForeignKeyText(name=None, columns=("a", "b"), referred_table="P", deferrable="DEFERRABLE"),
    )


def test_a_table_made_by_a_query_has_no_columns_to_read() -> None:
    """CREATE TABLE ... AS SELECT has no definitions: nothing is read from its query."""
    assert parse_table("CREATE TABLE t AS SELECT (1) AS a") == parse_table("")


def test_index_keys_and_where_as_written() -> None:
    """An index's keys lose the COLLATE, ASC and DESC the pragma reports; the WHERE
    condition is the text after it, a closing parenthesis in a string included."""
    sql = (
        "CREATE UNIQUE INDEX ix ON t (lower(name) COLLATE NOCASE DESC, a ASC, "
        "(b || ')') ) WHERE a > 0 AND name <> ')'"
    )

    assert parse_index(sql) == (
        ("lower(name)", "a", "(b || ')')"),
        "a > 0 AND name <> ')'",
    )
    assert parse_index("CREATE INDEX ix ON t (a)") == (("a",), None)


def test_view_query_after_the_first_as_outside_parentheses() -> None:
    """A view's query starts after the AS of CREATE VIEW, not one of its column list."""
    sql = 'CREATE VIEW "as" (n, m) AS SELECT a AS n, (SELECT 1 AS x) AS m FROM t'

    assert view_query(sql) == "SELECT a AS n, (SELECT 1 AS x) AS m FROM t"
