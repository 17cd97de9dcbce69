"""The Control Plane's exceptions: one base class, subclasses that carry what went wrong."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Base of every error the Control Plane raises on purpose."""


class InitModelsInProductionError(ControlPlaneError):
    """`init_models()` was called with ENVIRONMENT=production."""

    def __init__(self) -> None:
        super().__init__(
            "init_models() creates tables without migrations and is for local development "
            "only; ENVIRONMENT is production, so build the schema with `alembic upgrade head`"
        )


class MigrationsOutOfDateError(ControlPlaneError):
    """The database's applied revisions are not the migration scripts' heads."""

    def __init__(
        self, message: str, *, database_heads: tuple[str, ...], script_heads: tuple[str, ...]
    ) -> None:
        super().__init__(message)
        self.database_heads = database_heads
        self.script_heads = script_heads


class MigrationsCheckFailedError(ControlPlaneError):
    """The startup check could not read the database's revision or the migration scripts."""


class AlembicConfigNotFoundError(ControlPlaneError):
    """The alembic.ini the startup check needs is not where ALEMBIC_CONFIG says."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"alembic config {path!r} not found (relative paths start at the working "
            "directory); set ALEMBIC_CONFIG to the Control Plane's alembic.ini"
        )
        self.path = path
