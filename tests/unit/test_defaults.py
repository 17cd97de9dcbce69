"""Server default decisions on text (driftwatch.defaults): pure, no database."""

from __future__ import annotations

import pytest

from driftwatch.compare.defaults import (
    calls_a_function,
    defaults_differ,
    generated_differ,
    normalise,
)


@pytest.mark.parametrize(
    ("live", "model", "dialect"),
    [
        ("gen_random_uuid()", "(GEN_RANDOM_UUID())", "postgresql"),
        ("timezone('utc'::text, now())", "timezone('utc', now())", "postgresql"),
        ("CURRENT_TIMESTAMP", "now()", "postgresql"),
        ("current_timestamp()", "now()", "mysql"),
        ("uuid()", "(uuid())", "mysql"),
        ("(lower(hex(randomblob(16))))", "lower(hex(randomblob(16)))", "sqlite"),
    ],
)
def test_same_default_spelt_otherwise_is_equal(live: str, model: str, dialect: str) -> None:
    """The server's own spelling of a function default is not a difference."""
    assert defaults_differ(live, model, dialect) is False


@pytest.mark.parametrize(
    ("live", "model"),
    [
        ("clock_timestamp()", "now()"),
        ("gen_random_uuid()", "uuid_generate_v4()"),
        ("nextval('a_seq'::regclass)", "nextval('b_seq')"),
        ("'now()'::text", "now()"),
    ],
)
def test_different_function_defaults_differ(live: str, model: str) -> None:
    """A function call against anything else differs, decided without running either."""
    assert defaults_differ(live, model, "postgresql") is True


def test_literals_spelt_otherwise_are_left_to_the_dialect() -> None:
    """Two literals that text cannot tell apart ('0' and 0) go to alembic's comparison."""
    assert defaults_differ("0", "'0'", "postgresql") is None
    assert defaults_differ(None, "'x'", "postgresql") is None


def test_text_in_literals_is_kept_as_written() -> None:
    """Case and blanks inside a string literal count; a '(' in one is not a call."""
    assert normalise("'A  b'::text", "postgresql") == "'A  b'"
    assert not calls_a_function("'f(x)'")
    assert defaults_differ("'New'::character varying", "'new'", "postgresql") is None


def test_outer_parentheses_only_when_they_wrap_everything() -> None:
    """(a) + (b) keeps its parentheses; ((a + b)) loses both pairs."""
    assert normalise("(a) + (b)", "postgresql") == "(a)+(b)"
    assert normalise("((a + b))", "postgresql") == "a+b"


def test_generated_expressions_compare_crudely() -> None:
    """Parentheses, quotes and blanks are noise; an operator is not; one side only differs."""
    assert not generated_differ("(end_ns - start_ns)", "end_ns - start_ns")
    assert not generated_differ("`end_ns` - `start_ns`", "end_ns - start_ns")
    assert generated_differ("(end_ns + start_ns)", "end_ns - start_ns")
    assert generated_differ(None, "end_ns - start_ns")
