"""Failures that stop a check. Drift is never one of them: drift is data (see findings)."""

from __future__ import annotations


class DriftwatchError(Exception):
    """Base of every error driftwatch reports as one line and exit code 2.

    The message must be safe to show: no password, no traceback, one line.
    """


class ConfigError(DriftwatchError):
    """The configuration is invalid: unknown keys, wrong types, contradictory settings."""


class ScriptsError(DriftwatchError):
    """The migration scripts cannot be loaded (missing folder, bad alembic.ini, broken graph)."""


class MetadataError(DriftwatchError):
    """The models cannot be loaded: the import path fails or does not name a MetaData."""


class DatabaseError(DriftwatchError):
    """The database cannot be reached or queried (down, refused, bad credentials, timeout)."""


class VersionTableError(DriftwatchError):
    """The version table holds values that are not revision identifiers, or has no such column."""


class PrivilegeError(DatabaseError):
    """The user may not see what the target watches: drift and invisibility look alike."""
