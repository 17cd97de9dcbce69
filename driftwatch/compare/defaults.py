"""Server default comparison: decided on normalised text, never by running the default.

alembic compares a server default by its dialect's spelling rules or, on PostgreSQL, by
running `SELECT <live default> = <model default>` on the monitored database. A default that
calls a function is then wrong both ways: `gen_random_uuid()` or `clock_timestamp()` give a
new value on each call and never compare equal, and `nextval(...)` would write. driftwatch
decides first, on the text of both sides:

- spellings equal once normalised (case, blanks, redundant parentheses, PostgreSQL casts on
  literals, each dialect's synonyms such as MariaDB's `current_timestamp()` for `now()`) are
  equal;
- otherwise a default that calls a function differs;
- two literals spelt differently (`0` and `'0'`) are left to alembic's comparison for the
  dialect, which knows how its server stores values.

Generated columns (`Computed`) compare their expressions crudely as alembic does (without
blanks, parentheses or quotes): a change that only moves parentheses is missed, a server's
own re-spelling is not reported. A model default that does not compile for the dialect (a
custom SQL construct with `@compiles` for other dialects only) cannot be compared with what
the server holds; only its absence from the database is reported.

The decision functions are pure; `compare_server_default` is the alembic comparator that
applies them (registered as the `driftwatch.server_defaults` autogenerate plugin).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import AlterColumnOp
from alembic.runtime.plugins import Plugin
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy import Column, Computed
from sqlalchemy.exc import CompileError
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.schema import DefaultClause

PLUGIN_NAME = "driftwatch.server_defaults"
DIALECTS = ("postgresql", "mysql", "sqlite")

STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
# a PostgreSQL cast as pg_get_expr writes it: 'utc'::text, '{}'::jsonb, 'x'::character varying(20)
PG_CAST = re.compile(
    r"::\s*\"?[a-z_][a-z0-9_$]*\"?"
    r"(?:\s+(?:varying|precision|with|without|time|zone))*"
    r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\[\])*"
)
FUNCTION_CALL = re.compile(r"[a-z_][a-z0-9_$.]*\(")
GENERATED_NOISE = re.compile(r"[\s()'\"`\[\]]")

# spellings the server keeps for what the models write, once normalised
SYNONYMS: dict[str, dict[str, str]] = {
    "postgresql": {"current_timestamp": "now()", "transaction_timestamp()": "now()"},
    "mysql": {
        "true": "1",
        "false": "0",
        "now()": "current_timestamp",
        "current_timestamp()": "current_timestamp",
        "localtime": "current_timestamp",
        "localtime()": "current_timestamp",
        "localtimestamp": "current_timestamp",
        "localtimestamp()": "current_timestamp",
    },
}


def _outside_literals(sql: str, change: Callable[[str], str]) -> str:
    """`sql` with `change` applied to everything but its string literals."""
    parts: list[str] = []
    position = 0
    for literal in STRING_LITERAL.finditer(sql):
        parts.append(change(sql[position : literal.start()]))
        parts.append(literal.group())
        position = literal.end()
    parts.append(change(sql[position:]))
    return "".join(parts)


def _blank_literals(sql: str) -> str:
    """`sql` with the content of its string literals blanked, positions unchanged."""
    return STRING_LITERAL.sub(lambda m: "'" + " " * (len(m.group()) - 2) + "'", sql)


def _wrapped(sql: str) -> bool:
    """Whether the whole of `sql` sits in one pair of parentheses (not `(a) + (b)`)."""
    if not (sql.startswith("(") and sql.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(_blank_literals(sql)):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(sql) - 1:
            return False
    return True


def normalise(sql: str, dialect: str) -> str:
    """One spelling for one default: what compares equal here is equal on the server."""

    def plain(text: str) -> str:
        text = text.lower()
        if dialect == "postgresql":
            text = PG_CAST.sub("", text)
        return re.sub(r"\s+", "", text)

    spelling = _outside_literals(sql.strip(), plain)
    while _wrapped(spelling):
        spelling = spelling[1:-1]
    if dialect in ("mysql", "sqlite") and STRING_LITERAL.fullmatch(spelling):
        # MariaDB and SQLite may keep a literal default with or without its quotes
        spelling = spelling[1:-1]
    return SYNONYMS.get(dialect, {}).get(spelling, spelling)


def calls_a_function(sql: str) -> bool:
    """Whether `sql` calls a function (outside its string literals)."""
    return bool(FUNCTION_CALL.search(_blank_literals(sql).lower()))


def defaults_differ(live: str | None, model: str | None, dialect: str) -> bool | None:
    """Whether a live default differs from the models' one, as rendered SQL text.

    None: text cannot tell (a side without default, or two literals spelt differently),
    the dialect's own comparison decides.
    """
    if live is None or model is None:
        return None
    if normalise(live, dialect) == normalise(model, dialect):
        return False
    if calls_a_function(live) or calls_a_function(model):
        return True
    return None


def generated_differ(live: str | None, model: str | None) -> bool:
    """Whether two generation expressions differ (None: the column is not generated)."""
    if live is None or model is None:
        return live != model

    def crude(sql: str) -> str:
        return GENERATED_NOISE.sub("", PG_CAST.sub("", sql.lower()))

    return crude(live) != crude(model)


# --- the alembic comparator ---------------------------------------------------------------

CANNOT_RENDER = object()  # the models' default has no SQL for this dialect


def render(element: Any, autogen_context: AutogenContext) -> Any:
    """SQL text of a default or generation expression for the context's dialect.

    None for no default; CANNOT_RENDER for a construct that does not compile here.
    """
    if element is None:
        return None
    if isinstance(element, Computed):
        element = element.sqltext
    elif isinstance(element, DefaultClause):
        element = element.arg
    if isinstance(element, str):
        return element
    if not isinstance(element, ClauseElement):
        return CANNOT_RENDER
    try:
        compiled = element.compile(
            dialect=autogen_context.dialect, compile_kwargs={"literal_binds": True}
        )
    except CompileError:
        return CANNOT_RENDER
    return str(compiled)


def compare_server_default(
    autogen_context: AutogenContext,
    alter_column_op: AlterColumnOp,
    _schema: str | None,
    _tname: str,
    _cname: str,
    conn_col: Column[Any],
    metadata_col: Column[Any],
) -> PriorityDispatchResult:
    """Decide a column's server default (or generation expression) before alembic does.

    STOP when decided here; CONTINUE leaves the column to alembic's own comparators
    (identity columns, and literals only the dialect's comparison can tell apart).
    """
    live, model = conn_col.server_default, metadata_col.server_default
    generated = isinstance(live, Computed) or isinstance(model, Computed)
    if not generated and not all(isinstance(d, DefaultClause | None) for d in (live, model)):
        return PriorityDispatchResult.CONTINUE  # identity, or a FetchedValue of the models
    if live is None and model is None:
        return PriorityDispatchResult.CONTINUE
    alter_column_op.existing_server_default = live
    live_sql, model_sql = render(live, autogen_context), render(model, autogen_context)
    if CANNOT_RENDER in (live_sql, model_sql):
        # nothing to compare the live default with; a missing one is still missing
        differs: bool | None = live is None
    elif generated:
        live_expr = live_sql if isinstance(live, Computed) else None
        model_expr = model_sql if isinstance(model, Computed) else None
        differs = generated_differ(live_expr, model_expr)
    else:
        differs = defaults_differ(live_sql, model_sql, autogen_context.dialect.name)
        if differs is None:
            return PriorityDispatchResult.CONTINUE
    if differs:
        alter_column_op.modify_server_default = model
    return PriorityDispatchResult.STOP


def _register() -> None:
    plugin = Plugin(PLUGIN_NAME)
    for dialect in DIALECTS:
        # a dialect's own comparators run before the generic ones of the same priority,
        # so this decides before alembic's first (and, for Computed, failing) comparator
        plugin.add_autogenerate_comparator(
            compare_server_default,
            "column",
            "server_default",
            qualifier=dialect,
            priority=DispatchPriority.FIRST,
        )


_register()
