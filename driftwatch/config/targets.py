"""Targets: the plain, validated description of one monitored database."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from driftwatch.compare.baseline import Baseline, read_baseline
from driftwatch.config.alembic_ini import read_alembic_ini
from driftwatch.config.secrets import mask_url, read_secret
from driftwatch.config.settings import (
    DEFAULT_VERSION_TABLE,
    Comparison,
    Settings,
    TargetSettings,
    Timeouts,
)
from driftwatch.errors import ConfigError

# we only read, so the driver is ours to choose: the async one of each backend we support
ASYNC_DRIVERS: Mapping[str, str] = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}
# each driver's module, and the extra that installs it
DRIVER_EXTRAS: Mapping[str, tuple[str, str]] = {
    "postgresql+asyncpg": ("asyncpg", "postgresql"),
    "mysql+aiomysql": ("aiomysql", "mysql"),
    "sqlite+aiosqlite": ("aiosqlite", "sqlite"),
}


def require_driver(url: URL, *, origin: str) -> None:
    """Refuse a URL whose driver is not installed, naming the extra that installs it."""
    module, extra = DRIVER_EXTRAS[url.drivername]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{origin}: {url.get_backend_name()} needs the {module} driver, which is not "
            f"installed (pip install 'alembic-driftwatch[{extra}]')"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Everything needed to check one database; built once from settings."""

    name: str
    url: URL  # repr() and str() mask the password; never render it with hide_password=False
    alembic_ini: Path | None = None
    script_location: str | None = None
    version_locations: tuple[str, ...] = ()
    version_table: str = DEFAULT_VERSION_TABLE
    version_table_schema: str | None = None
    metadata: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    include_tables: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()
    compare: Comparison = field(default_factory=Comparison)
    scratch_url: URL | None = None  # where expected states are built; None: the default
    replay_bootstrap: str | None = None  # module:callable preparing an empty scratch database
    replay_stamp: str | None = None  # revision stamped before the replay
    include_name: str | None = None  # module:callable, env.py's include_name for alembic
    include_object: str | None = None  # module:callable, env.py's include_object
    baseline: Baseline | None = None  # read and validated with the configuration
    baseline_file: Path | None = None  # where `baseline` came from (the daemon re-reads it)
    expected_dir: Path | None = None  # prebuilt expected states: used instead of scripts, models
    interval_seconds: float | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
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
    require_driver(url, origin=origin)
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
            "no database URL (set url, url_env or url_file; or DATABASE_URL, or --url)",
            target=ts.name,
        )
    return parse_url(raw, origin=f"{origin} url")


def _resolve_scratch_url(ts: TargetSettings) -> URL | None:
    origin = f"target {ts.name!r}"
    raw = read_secret(
        value=ts.scratch_url, env=ts.scratch_url_env, origin=origin, what="scratch_url"
    )
    return None if raw is None else parse_url(raw, origin=f"{origin} scratch_url")


def _from_settings(ts: TargetSettings, *, read_baselines: bool = True) -> Target:
    if ts.alembic_ini is None and ts.script_location is None and ts.expected_dir is None:
        raise ConfigError("set alembic_ini or script_location (or expected_dir)", target=ts.name)
    metadata = tuple(ts.metadata)
    if not metadata and ts.alembic_ini is not None:
        metadata = read_alembic_ini(ts.alembic_ini).metadata
    return Target(
        name=ts.name,
        url=_resolve_url(ts),
        scratch_url=_resolve_scratch_url(ts),
        compare=Comparison.model_validate(ts.model_dump(include=set(Comparison.model_fields))),
        replay_bootstrap=ts.replay_bootstrap,
        replay_stamp=ts.replay_stamp,
        include_name=ts.include_name,
        include_object=ts.include_object,
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
        baseline=_baseline_of(ts) if read_baselines else None,
        baseline_file=ts.baseline if read_baselines else None,
        expected_dir=ts.expected_dir,
        interval_seconds=ts.interval_seconds,
        timeouts=Timeouts.model_validate(ts.model_dump(include=set(Timeouts.model_fields))),
        labels=dict(ts.labels),
    )


def _baseline_of(ts: TargetSettings) -> Baseline | None:
    if ts.baseline is None:
        return None
    try:
        return read_baseline(ts.baseline)
    except ConfigError as exc:
        raise ConfigError(exc.message, target=ts.name) from None


def build_targets(
    settings: Settings, *, names: tuple[str, ...] = (), read_baselines: bool = True
) -> list[Target]:
    """Turn settings into targets, keeping those named (all when none are).

    `read_baselines=False` leaves the targets' baseline files unread (`check
    --write-baseline` makes the file, so it may not exist yet).
    """
    configured = list(settings.targets)
    if not configured:
        raise ConfigError(
            "no targets configured: write driftwatch.toml (or pass --config), "
            "or run where alembic.ini is, with DATABASE_URL set"
        )
    if names:
        known = {t.name for t in configured}
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError(
                f"no target named {', '.join(map(repr, missing))} "
                f"(configured: {', '.join(sorted(known))})"
            )
        configured = [t for t in configured if t.name in names]
    return [_from_settings(ts, read_baselines=read_baselines) for ts in configured]
