"""Errors carry their fields and format the target's prefix once."""

from __future__ import annotations

from driftwatch.errors import ConfigError, DatabaseError, PrivilegeError


def test_an_error_of_a_target_names_it_before_the_message() -> None:
    """With a target, str() is "target 'x': message"; without, the message alone."""
    error = ConfigError("set alembic_ini or script_location", target="app")

    assert str(error) == "target 'app': set alembic_ini or script_location"
    assert (error.message, error.target) == ("set alembic_ini or script_location", "app")
    assert str(ConfigError("config file dw.toml does not exist")) == (
        "config file dw.toml does not exist"
    )


def test_a_database_error_carries_target_url_and_reason() -> None:
    """A database error keeps the masked URL and the reason apart, and shows both once."""
    error = PrivilegeError(
        "connection refused by db:5432", target="app", url="postgresql+asyncpg://u:***@db/app"
    )

    assert isinstance(error, DatabaseError)
    assert (error.target, error.url, error.reason) == (
        "app",
        "postgresql+asyncpg://u:***@db/app",
        "connection refused by db:5432",
    )
    assert str(error) == (
        "target 'app' (postgresql+asyncpg://u:***@db/app): connection refused by db:5432"
    )
