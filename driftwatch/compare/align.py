"""Documented deparsing differences between server versions, removed before a diff. Pure.

An expected state may come from a scratch server of another major version than the live
one (the embedded PostgreSQL is the newest release). The same DDL then reads back the same
except for the differences listed here; each is undone on the expected side, and the note
returned says what was not compared, so the report can say which versions met.
"""

from __future__ import annotations

from dataclasses import replace

from driftwatch.snapshot import Column, Snapshot, Table

# PostgreSQL 16 stopped qualifying a view's columns with their table when it deparses
# the view: a definition read on 16+ differs in text from one read on 15 for the same view
PG_VIEW_TEXT_CHANGED_IN = 16
# PostgreSQL 18 made a generated column without STORED virtual; before, all were stored, so
# a live server older than that holds as stored what the newer scratch server made virtual
PG_VIRTUAL_COLUMNS_SINCE = 18


def align(expected: Snapshot, actual: Snapshot) -> tuple[Snapshot, tuple[str, ...]]:
    """`expected` as `actual`'s server would have printed it, and notes on what was not
    compared."""
    mine, theirs = expected.server_major, actual.server_major
    if expected.dialect != "postgresql" or mine is None or theirs is None or mine == theirs:
        return expected, ()
    notes: list[str] = []
    if mine >= PG_VIRTUAL_COLUMNS_SINCE > theirs:
        expected = replace(expected, tables=tuple(_stored_columns(t) for t in expected.tables))
    if (mine >= PG_VIEW_TEXT_CHANGED_IN) != (theirs >= PG_VIEW_TEXT_CHANGED_IN) and (
        expected.views or actual.views
    ):
        live = {v.key: v for v in actual.views}
        expected = replace(
            expected,
            views=tuple(
                replace(v, definition=live[v.key].definition) if v.key in live else v
                for v in expected.views
            ),
        )
        notes.append(
            f"view definitions not compared: PostgreSQL {mine} and {theirs} print them "
            "differently (presence is compared)"
        )
    return expected, tuple(notes)


def _stored_columns(table: Table) -> Table:
    if not any(c.generated_kind == "virtual" for c in table.columns):
        return table
    return replace(table, columns=tuple(_stored(c) for c in table.columns))


def _stored(column: Column) -> Column:
    return (
        replace(column, generated_kind="stored") if column.generated_kind == "virtual" else column
    )
