"""Names of scratch databases: what driftwatch makes, and which leftovers it may drop."""

from __future__ import annotations

from driftwatch.expected.scratch import LEFTOVER_AGE_SECONDS, is_leftover, new_database_name

NOW = 1_800_000_000.0
TOKEN = "0123456789abcdef"


def test_name_holds_creation_time_and_token() -> None:
    """A name is the prefix, the creation time in hex seconds, and the random token."""
    assert new_database_name(NOW, TOKEN) == f"driftwatch_scratch_{int(NOW):08x}_{TOKEN}"


def test_only_names_older_than_an_hour_are_leftovers() -> None:
    """A database made an hour ago or more is a leftover; a younger one is in use."""
    assert is_leftover(new_database_name(NOW - LEFTOVER_AGE_SECONDS, TOKEN), NOW)
    assert is_leftover(new_database_name(NOW - 10 * LEFTOVER_AGE_SECONDS, TOKEN), NOW)
    assert not is_leftover(new_database_name(NOW - LEFTOVER_AGE_SECONDS + 1, TOKEN), NOW)
    assert not is_leftover(new_database_name(NOW + 60, TOKEN), NOW)


def test_nothing_but_the_exact_form_is_a_leftover() -> None:
    """Names that merely look alike (another case, a suffix, no token) are never dropped."""
    old = new_database_name(NOW - 2 * LEFTOVER_AGE_SECONDS, TOKEN)
    for name in (
        old.upper(),
        old + "_x",
        "x" + old,
        old[: -len(TOKEN) - 1],
        "driftwatch_scratch_",
        "driftwatch_scratch_keep_me",
        "dwtest_0123456789ab",
    ):
        assert not is_leftover(name, NOW), name
