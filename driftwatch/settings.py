"""Configuration: a TOML file, `.env`, the environment and CLI flags, validated once.

Strength, strongest first: CLI flags, environment (DRIFTWATCH_ prefix, `__` for nesting),
`.env`, the TOML file (`--config`, $DRIFTWATCH_CONFIG, or ./driftwatch.toml). Core modules never
import this: `targets.build_targets` turns settings into plain `Target` values.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from driftwatch.errors import ConfigError
from driftwatch.notify.conditions import Condition
from driftwatch.secrets import header_secrets, url_secrets, webhook_secrets

DEFAULT_CONFIG_FILE = "driftwatch.toml"
CONFIG_ENV = "DRIFTWATCH_CONFIG"
TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"target", "dialect", "instance", "job"})
# the longest duration any setting may have: PostgreSQL's longest timeout (2^31 - 1 ms), far
# beyond any sensible interval, and short of what datetime and the scheduler overflow on
MAX_SECONDS = 2_147_483


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


def _bounded_seconds(value: object) -> object:
    """Every float setting is a duration in seconds; none may exceed MAX_SECONDS."""
    if isinstance(value, float) and value > MAX_SECONDS:
        raise ValueError(f"must be at most {MAX_SECONDS} seconds (about 24 days)")
    return value


class TargetSettings(BaseModel):
    """One monitored database, as written in the configuration."""

    # inf and nan are refused: they pass gt=0 (inf) or fail it with a misleading message
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _durations = field_validator("*")(_bounded_seconds)

    name: str
    url: SecretStr | None = None
    url_env: str | None = None
    url_file: Path | None = None
    alembic_ini: Path | None = None
    script_location: str | None = None
    version_locations: StrList = Field(default_factory=list)
    version_table: str = "alembic_version"
    version_table_schema: str | None = None
    metadata: StrList = Field(default_factory=list)
    imports: StrList = Field(default_factory=list)
    schemas: StrList = Field(default_factory=list)
    include_tables: StrList = Field(default_factory=list)
    exclude_tables: StrList = Field(default_factory=list)
    compare_type: bool = True
    compare_server_default: bool = False
    # how the live schema is compared with the models: "snapshot" in a scratch database,
    # "alembic" through its autogenerate, "auto" the first where a scratch database is had
    comparison: Literal["auto", "snapshot", "alembic"] = "auto"
    scratch_url: SecretStr | None = None  # a server where driftwatch may CREATE DATABASE
    scratch_url_env: str | None = None
    # for migration chains that do not start from an empty database: a `module:callable`
    # called with the scratch database's connection before the first migration, and/or a
    # revision stamped before replaying the rest
    replay_bootstrap: str | None = None
    replay_stamp: str | None = None
    baseline: Path | None = None  # a JSON file of accepted findings (driftwatch.compare.baseline)
    interval_seconds: float | None = Field(default=None, gt=0)
    connect_timeout_seconds: float = Field(default=10, gt=0)
    statement_timeout_seconds: float = Field(default=30, gt=0)
    lock_timeout_seconds: float = Field(default=2, gt=0)
    check_timeout_seconds: float = Field(default=300, gt=0)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_a_label_value(cls, name: str) -> str:
        if not TARGET_NAME.match(name):
            raise ValueError(
                "must be 1-63 characters of letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        return name

    @field_validator("replay_bootstrap")
    @classmethod
    def _bootstrap_is_an_import_path(cls, path: str | None) -> str | None:
        module, sep, attr = (path or "").partition(":")
        dotted = [*module.split("."), *attr.split(".")]
        if path is not None and (not sep or not all(p.isidentifier() for p in dotted)):
            raise ValueError("must be module:callable (dotted Python names)")
        return path

    @field_validator("labels")
    @classmethod
    def _labels_are_prometheus_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not LABEL_NAME.match(key) or key.startswith("__"):
                raise ValueError(f"label name {key!r} is not a valid Prometheus label name")
            if key in RESERVED_LABELS:
                raise ValueError(f"label name {key!r} is reserved")
        return labels

    @model_validator(mode="after")
    def _one_source_each(self) -> TargetSettings:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of url, url_env, url_file (got {', '.join(given)})")
        if self.scratch_url is not None and self.scratch_url_env is not None:
            raise ValueError("give scratch_url or scratch_url_env, not both")
        if self.alembic_ini is not None and self.script_location is not None:
            raise ValueError("give alembic_ini or script_location, not both")
        return self


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class NotifierSettings(BaseModel):
    """One webhook receiver of `driftwatch serve` (a `[[notifiers]]` entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _durations = field_validator("*")(_bounded_seconds)

    type: Literal["alertmanager", "slack", "webhook"]
    name: str | None = None  # default: the type
    url: SecretStr | None = None
    url_env: str | None = None
    url_file: Path | None = None
    events: list[Condition] | None = None  # default: every condition
    targets: StrList = Field(default_factory=list)  # default: every target
    pending_threshold_seconds: float = Field(default=1800, ge=0)
    check_failing_threshold_seconds: float = Field(default=0, ge=0)
    timeout_seconds: float = Field(default=10, gt=0, le=300)
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(default_factory=dict)
    queue_size: int = Field(default=10_000, ge=1, le=1_000_000)
    retry_initial_seconds: float = Field(default=1, gt=0)
    retry_max_seconds: float = Field(default=60, gt=0)
    resend_interval_seconds: float | None = Field(default=None, gt=0)

    @field_validator("name")
    @classmethod
    def _name_is_a_label_value(cls, name: str | None) -> str | None:
        if name is not None and not TARGET_NAME.match(name):
            raise ValueError(
                "must be 1-63 characters of letters, digits, '_', '.', '-', "
                "starting with a letter or digit"
            )
        return name

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of url, url_env, url_file (got {', '.join(given)})")
        if self.events == []:
            raise ValueError("events is empty: this notifier would never send anything")
        for header in [*self.headers, *self.headers_env]:
            if not HEADER_NAME.match(header):
                raise ValueError(f"{header!r} is not an HTTP header name")
        both = sorted(set(self.headers) & set(self.headers_env))
        if both:
            raise ValueError(f"header {both[0]!r} is in both headers and headers_env")
        if self.retry_initial_seconds > self.retry_max_seconds:
            raise ValueError("retry_initial_seconds is more than retry_max_seconds")
        if self.resend_interval_seconds is not None and self.type != "alertmanager":
            raise ValueError('resend_interval_seconds applies to type = "alertmanager" only')
        return self


class Settings(BaseSettings):
    """Everything driftwatch reads from its configuration sources."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTWATCH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        # .env is shared with the application (DATABASE_URL ...): only our prefix is ours
        dotenv_filtering="match_prefix",
        allow_inf_nan=False,
    )
    toml_data: ClassVar[dict[str, Any]] = {}
    _durations = field_validator("*")(_bounded_seconds)

    targets: list[TargetSettings] = Field(default_factory=list)
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    # daemon
    listen: str = "0.0.0.0:9647"  # an exporter serves the network by default
    interval_seconds: float = Field(default=60, gt=0)
    jitter_seconds: float | None = Field(default=None, ge=0)
    max_age_seconds: float = Field(default=3600, gt=0)
    concurrency: int = Field(default=4, ge=1, le=64)
    shutdown_grace_seconds: float = Field(default=30, ge=0)
    drift_table_series_limit: int = Field(default=200, ge=0)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    basic_auth_username: str | None = None
    basic_auth_password: SecretStr | None = None
    basic_auth_password_file: Path | None = None
    state_file: Path | None = None  # notifications' memory across restarts (notify.state_file)
    # expected states' snapshots (default: $XDG_CACHE_HOME/driftwatch or ~/.cache/driftwatch)
    cache_dir: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        names = [t.name for t in self.targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"target names must be unique (repeated: {', '.join(duplicates)})")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together")
        has_password = self.basic_auth_password or self.basic_auth_password_file
        if bool(self.basic_auth_username) != bool(has_password):
            raise ValueError("basic_auth_username needs basic_auth_password(_file), and back")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _DictSource(settings_cls, cls.toml_data),
        )


class _DictSource(PydanticBaseSettingsSource):
    """The parsed TOML file as the weakest settings source."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def config_file_path(explicit: Path | None) -> Path | None:
    """The TOML file to read: --config, then $DRIFTWATCH_CONFIG, then ./driftwatch.toml."""
    if explicit is not None:
        return explicit
    if from_env := os.environ.get(CONFIG_ENV):
        return Path(from_env)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({not_text(exc)})") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(unknown)}")
    return anchor_paths(data, path.resolve().parent)


# file paths in a config file are relative to the file, as a reader of the file expects;
# folders of migration scripts may also be `package:path` resources, which stay as they are
FILE_KEYS = {
    "": ("tls_cert_file", "tls_key_file", "basic_auth_password_file", "state_file", "cache_dir"),
    "targets": ("alembic_ini", "url_file", "script_location", "version_locations", "baseline"),
    "notifiers": ("url_file",),
}


def _anchored(value: object, base: Path) -> object:
    if isinstance(value, list):
        return [_anchored(item, base) for item in value]
    if not isinstance(value, str) or not value or ":" in value:
        return value
    path = Path(value).expanduser()
    return value if path.is_absolute() else str(base / path)


def anchor_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """`data` with relative file paths made relative to `base` (the config file's folder)."""
    anchored = dict(data)
    for section, keys in FILE_KEYS.items():
        entries = [anchored] if not section else anchored.get(section)
        if not isinstance(entries, list):
            continue
        if section:
            entries = anchored[section] = [dict(e) if isinstance(e, dict) else e for e in entries]
        for entry in entries:
            if isinstance(entry, dict):
                for key in keys:
                    if key in entry:
                        entry[key] = _anchored(entry[key], base)
    return anchored


def _describe(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{origin}: {where}: {message}{more}"


class _FileOnlySettings(Settings):
    """The TOML file alone, so that its mistakes are blamed on it and not on the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (_DictSource(settings_cls, cls.toml_data),)


def _check_file(path: Path, data: dict[str, Any]) -> None:
    try:
        type("FileSettings", (_FileOnlySettings,), {"toml_data": data})()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, f"config file {path}")) from None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Read every source and validate once; raise ConfigError with one line on bad input."""
    path = config_file_path(config)
    data = read_toml(path) if path is not None else {}
    if path is not None:
        _check_file(path, data)
    bound = type("BoundSettings", (Settings,), {"toml_data": data})
    # the file alone is valid: what is wrong came from the environment, .env or the caller
    origin = "environment (DRIFTWATCH_*), .env or command line"
    try:
        settings: Settings = bound(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    except SettingsError as exc:
        # a list or table (targets, labels) given in the environment or .env that is not JSON
        raise ConfigError(f"environment or .env: {exc} (lists and tables must be JSON)") from None
    except UnicodeDecodeError as exc:  # the environment is decoded already: .env it is
        raise ConfigError(f".env is not UTF-8 text ({not_text(exc)})") from None
    return settings


def not_text(exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8 text, without quoting it (it may hold secrets)."""
    return f"at byte {exc.start + 1}"


def read_secret(
    *,
    value: SecretStr | None = None,
    env: str | None = None,
    file: Path | None = None,
    origin: str,
    what: str,
) -> str | None:
    """A secret given inline, by environment variable (`<what>_env`) or in a file
    (`<what>_file`, stripped: mounted secrets end with a newline); None when none is given.
    Errors name the source, never the secret."""
    if value is not None:
        return value.get_secret_value().strip()
    if env is not None:
        from_env = os.environ.get(env, "").strip()
        if not from_env:
            raise ConfigError(f"{origin}: {what}_env: environment variable {env} is not set")
        return from_env
    if file is not None:
        try:
            from_file = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{origin}: {what}_file {file}: {exc.strerror}") from None
        except UnicodeDecodeError:  # never say where: the bytes may be the secret
            raise ConfigError(f"{origin}: {what}_file {file} is not UTF-8 text") from None
        if not from_file:
            raise ConfigError(f"{origin}: {what}_file {file} is empty")
        return from_file
    return None


def basic_auth_password(settings: Settings) -> str | None:
    """The basic auth password, from the settings or the file they name."""
    return read_secret(
        value=settings.basic_auth_password,
        file=settings.basic_auth_password_file,
        origin="configuration",
        what="basic_auth_password",
    )


def configured_secrets(settings: Settings) -> set[str]:
    """Every secret the configuration names, read from where it is kept: each target's
    database password (configured targets, selected or not), each notifier's URL and header
    values, the basic auth password. A source that cannot be read is left out: it fails with
    its own message where it is used, and what cannot be read cannot be shown either."""
    found: set[str] = set()
    for ts in settings.targets:
        raw = _readable(value=ts.url, env=ts.url_env, file=ts.url_file)
        found |= url_secrets(raw)
        found |= url_secrets(_readable(value=ts.scratch_url, env=ts.scratch_url_env))
    for ns in settings.notifiers:
        found |= webhook_secrets(_readable(value=ns.url, env=ns.url_env, file=ns.url_file))
        for header in ns.headers.values():
            found |= header_secrets(header.get_secret_value())
        for env in ns.headers_env.values():
            found |= header_secrets(os.environ.get(env, ""))
    found.add(
        _readable(value=settings.basic_auth_password, file=settings.basic_auth_password_file) or ""
    )
    return found


def _readable(
    *, value: SecretStr | None = None, env: str | None = None, file: Path | None = None
) -> str | None:
    try:
        return read_secret(value=value, env=env, file=file, origin="", what="")
    except ConfigError:
        return None
