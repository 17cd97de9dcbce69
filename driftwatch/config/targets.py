"""Targets: the plain, validated description of one monitored database."""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from driftwatch.compare.baseline import Baseline, read_baseline
from driftwatch.config.secrets import mask_url
from driftwatch.config.settings import Settings, TargetSettings, not_text, read_secret
from driftwatch.errors import ConfigError

# we only read, so the driver is ours to choose: the async one of each backend we support
ASYNC_DRIVERS: Mapping[str, str] = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}
ZERO_CONFIG_TARGET = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Everything needed to check one database; built once from settings."""

    name: str
    url: URL  # repr() and str() mask the password; never render it with hide_password=False
    alembic_ini: Path | None = None
    script_location: str | None = None
    version_locations: tuple[str, ...] = ()
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    metadata: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    include_tables: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()
    compare_type: bool = True
    compare_server_default: bool = False
    comparison: str = "auto"  # "auto", "snapshot" or "alembic" (see settings)
    scratch_url: URL | None = None  # where expected states are built; None: the default
    replay_bootstrap: str | None = None  # module:callable preparing an empty scratch database
    replay_stamp: str | None = None  # revision stamped before the replay
    baseline: Baseline | None = None  # read and validated with the configuration
    baseline_file: Path | None = None  # where `baseline` came from (the daemon re-reads it)
    interval_seconds: float | None = None
    connect_timeout_seconds: float = 10
    statement_timeout_seconds: float = 30
    lock_timeout_seconds: float = 2
    check_timeout_seconds: float = 300
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    @property
    def safe_url(self) -> str:
        return mask_url(self.url)


def parse_url(raw: str, *, origin: str) -> URL:
    """Parse a database URL and switch it to our async driver; one-line error otherwise."""
    # never echo the raw string: it may hold a password
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{origin}: not a database URL (expected dialect://...)") from None
    except ValueError:  # make_url reads the port with int()
        problem = (
            "an IPv6 host lacks its closing ']'"
            if "[" in raw and "]" not in raw
            else "the port is not a number"
        )
        raise ConfigError(f"{origin}: not a database URL: {problem}") from None
    if url.port is not None and not 0 < url.port < 65536:
        raise ConfigError(f"{origin}: port {url.port} is out of range (1-65535)")
    backend = url.get_backend_name()
    driver = ASYNC_DRIVERS.get(backend)
    if driver is None:
        supported = "postgresql, mysql/mariadb, sqlite"
        raise ConfigError(f"{origin}: unsupported database {backend!r} (supported: {supported})")
    url = url.set(drivername=driver)
    if driver == ASYNC_DRIVERS["postgresql"]:
        url = _asyncpg_query(url)
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise ConfigError(f"{origin}: a SQLite target needs a database file path")
    return url


# the application's URL is written for libpq (psycopg); asyncpg takes sslmode as ssl and
# refuses the rest, and driftwatch sets its own connection timeout and application_name
LIBPQ_RENAMED = {"sslmode": "ssl"}
LIBPQ_DROPPED = ("connect_timeout", "application_name")


def _asyncpg_query(url: URL) -> URL:
    query = dict(url.query)
    for libpq, asyncpg in LIBPQ_RENAMED.items():
        if libpq in query:
            query.setdefault(asyncpg, query.pop(libpq))
    for key in LIBPQ_DROPPED:
        query.pop(key, None)
    return url.set(query=query)


def _resolve_url(ts: TargetSettings) -> URL:
    origin = f"target {ts.name!r}"
    raw = read_secret(value=ts.url, env=ts.url_env, file=ts.url_file, origin=origin, what="url")
    if raw is None:
        raise ConfigError(
            f"{origin}: no database URL (set url, url_env or url_file; or DATABASE_URL, or --url)"
        )
    return parse_url(raw, origin=f"{origin} url")


def _resolve_scratch_url(ts: TargetSettings) -> URL | None:
    origin = f"target {ts.name!r}"
    raw = read_secret(
        value=ts.scratch_url, env=ts.scratch_url_env, origin=origin, what="scratch_url"
    )
    return None if raw is None else parse_url(raw, origin=f"{origin} scratch_url")


def _from_settings(ts: TargetSettings, *, read_baselines: bool = True) -> Target:
    if ts.alembic_ini is None and ts.script_location is None:
        raise ConfigError(f"target {ts.name!r}: set alembic_ini or script_location")
    metadata = tuple(ts.metadata)
    if not metadata and ts.alembic_ini is not None:
        metadata = metadata_from_ini(ts.alembic_ini)
    return Target(
        name=ts.name,
        url=_resolve_url(ts),
        scratch_url=_resolve_scratch_url(ts),
        comparison=ts.comparison,
        replay_bootstrap=ts.replay_bootstrap,
        replay_stamp=ts.replay_stamp,
        alembic_ini=ts.alembic_ini,
        script_location=ts.script_location,
        version_locations=tuple(ts.version_locations),
        version_table=ts.version_table,
        version_table_schema=ts.version_table_schema,
        metadata=metadata,
        imports=tuple(ts.imports),
        schemas=tuple(ts.schemas),
        include_tables=tuple(ts.include_tables),
        exclude_tables=tuple(ts.exclude_tables),
        compare_type=ts.compare_type,
        compare_server_default=ts.compare_server_default,
        baseline=_baseline_of(ts) if read_baselines else None,
        baseline_file=ts.baseline if read_baselines else None,
        interval_seconds=ts.interval_seconds,
        connect_timeout_seconds=ts.connect_timeout_seconds,
        statement_timeout_seconds=ts.statement_timeout_seconds,
        lock_timeout_seconds=ts.lock_timeout_seconds,
        check_timeout_seconds=ts.check_timeout_seconds,
        labels=dict(ts.labels),
    )


def _baseline_of(ts: TargetSettings) -> Baseline | None:
    if ts.baseline is None:
        return None
    try:
        return read_baseline(ts.baseline)
    except ConfigError as exc:
        raise ConfigError(f"target {ts.name!r}: {exc}") from None


def read_ini(path: Path) -> configparser.ConfigParser:
    """An alembic.ini, read as alembic reads it: %(here)s is the file's folder, and '%%'
    stands for '%'. Errors are one line that never quotes the file: a line of it may be a
    URL with a password."""
    parser = configparser.ConfigParser(defaults={"here": str(path.resolve().parent)})
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        raise ConfigError(f"alembic config {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"alembic config {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"alembic config {path} is not UTF-8 text ({not_text(exc)})") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(
            f"alembic config {path}: line {exc.lineno} is not inside a [section] "
            "(alembic's options go under [alembic])"
        ) from None
    except configparser.ParsingError as exc:
        line = exc.errors[0][0] if exc.errors else "?"
        raise ConfigError(
            f"alembic config {path}: line {line} is not an option (key = value) nor a [section]"
        ) from None
    except configparser.Error as exc:  # a section or option given twice: names, no values
        detail = " ".join(str(exc).split())
        raise ConfigError(f"alembic config {path} cannot be read: {detail}") from None
    return parser


def _ini_value(path: Path, section: str, key: str) -> str:
    try:
        return read_ini(path).get(section, key, fallback="")
    except configparser.InterpolationError:
        # never echo the value: it may be a URL with a password
        raise ConfigError(
            f"alembic config {path}: [{section}] {key} has a bad '%' (write '%%' for '%')"
        ) from None


def metadata_from_ini(path: Path) -> tuple[str, ...]:
    """`[driftwatch] metadata = module:attr ...` in alembic.ini, so a project needs no file."""
    return tuple(_ini_value(path, "driftwatch", "metadata").split())


def _zero_config_target(cwd: Path, overrides: Mapping[str, Any]) -> TargetSettings:
    """With no targets configured: DATABASE_URL and ./alembic.ini, as the migration guide has it."""
    ini = cwd / "alembic.ini"
    has_scripts = overrides.get("alembic_ini") or overrides.get("script_location")
    if not ini.is_file() and not has_scripts:
        raise ConfigError(
            "no targets configured: write driftwatch.toml (or pass --config), "
            "or run where alembic.ini is, with DATABASE_URL set"
        )
    url = os.environ.get("DATABASE_URL") or _dotenv_value(cwd / ".env", "DATABASE_URL")
    if not url and ini.is_file():
        url = _ini_value(ini, "alembic", "sqlalchemy.url") or None
    return TargetSettings(
        name=ZERO_CONFIG_TARGET,
        url=None if url is None else SecretStr(url),
        alembic_ini=ini if ini.is_file() else None,
    )


def _override(ts: TargetSettings, overrides: Mapping[str, Any]) -> TargetSettings:
    """Apply command-line values to one target; a flag replaces its alternatives."""
    given = {k: v for k, v in overrides.items() if v not in (None, (), [])}
    if not given:
        return ts
    data = ts.model_dump()
    if "url" in given:
        data.update(url_env=None, url_file=None)
    if "scratch_url" in given:
        data.update(scratch_url_env=None)
    if "alembic_ini" in given:
        data.update(script_location=None)
    if "script_location" in given:
        data.update(alembic_ini=None)
    data.update(given)
    try:
        return TargetSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"command line: {where}: {first['msg']}") from None


def _dotenv_value(path: Path, key: str) -> str | None:
    from dotenv import dotenv_values  # noqa: PLC0415 - pydantic-settings' own dependency

    if not path.is_file():
        return None
    try:
        return dotenv_values(path).get(key)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text ({not_text(exc)})") from None


def build_targets(
    settings: Settings,
    *,
    names: tuple[str, ...] = (),
    overrides: Mapping[str, Any] | None = None,
    cwd: Path | None = None,
    read_baselines: bool = True,
) -> list[Target]:
    """Turn settings into targets, keeping those named (all when none are).

    `overrides` (url, alembic_ini, script_location, metadata, baseline from the command
    line) apply to the one selected target. `read_baselines=False` leaves the targets'
    baseline files unread (`check --write-baseline` makes the file, so it may not exist yet).
    """
    overrides = overrides or {}
    configured = list(settings.targets) or [_zero_config_target(cwd or Path.cwd(), overrides)]
    if names:
        known = {t.name for t in configured}
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError(
                f"no target named {', '.join(map(repr, missing))} "
                f"(configured: {', '.join(sorted(known))})"
            )
        configured = [t for t in configured if t.name in names]
    if any(v not in (None, (), []) for v in overrides.values()):
        if len(configured) > 1:
            flags = ", ".join("--" + k.replace("_", "-") for k, v in overrides.items() if v)
            raise ConfigError(f"{flags} apply to one target: choose it with --target")
        configured = [_override(configured[0], overrides)]
    return [_from_settings(ts, read_baselines=read_baselines) for ts in configured]
