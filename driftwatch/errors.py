"""Failures that stop a check. Drift is never one of them: drift is data (see findings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class DriftwatchError(Exception):
    """Base of every error driftwatch reports as one line and exit code 2.

    The message must be safe to show: no password, no traceback, one line. An error of one
    target names it: `str()` is "target 'x': message".
    """

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target

    def __str__(self) -> str:
        return self.message if self.target is None else f"{self._where()}: {self.message}"

    def _where(self) -> str:
        return f"target {self.target!r}"


@contextmanager
def of_target(name: str) -> Iterator[None]:
    """Errors raised inside that name no target are errors of target `name`: code that
    works for one target raises plain messages, and its caller says which."""
    try:
        yield
    except DriftwatchError as exc:
        if exc.target is None:
            exc.target = name
        raise


class ConfigError(DriftwatchError):
    """The configuration is invalid: unknown keys, wrong types, contradictory settings."""


class ScriptsError(DriftwatchError):
    """The migration scripts cannot be loaded (missing folder, bad alembic.ini, broken graph)."""


class MetadataError(DriftwatchError):
    """The models cannot be loaded: the import path fails or does not name a MetaData."""


class FilterError(DriftwatchError):
    """A project's include_name or include_object raised (or exited) while it filtered."""


class DatabaseError(DriftwatchError):
    """The database cannot be reached or queried (down, refused, bad credentials, timeout).

    `reason` says why, `url` is the target's URL as shown (masked); `str()` is
    "target 'x' (url): reason".
    """

    def __init__(self, reason: str, *, target: str, url: str) -> None:
        super().__init__(reason, target=target)
        self.reason = reason
        self.url = url

    def _where(self) -> str:
        return f"{super()._where()} ({self.url})"


class VersionTableError(DriftwatchError):
    """The version table holds values that are not revision identifiers, or has no such column."""


class PrivilegeError(DatabaseError):
    """The user may not see what the target watches: drift and invisibility look alike."""
