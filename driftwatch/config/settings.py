"""The settings' schema: what a TOML file, `.env`, the environment and flags may say.

Where the values come from, and in which order, is `loading`; settings end in `targets`, which
turns them into plain `Target` values (core modules never import this). `Timeouts`,
`Comparison` and `UrlSource` are parts of a target's settings with flat keys (a TOML file
writes `lock_timeout_seconds`, not a table): `Timeouts` and `Comparison` are also values of
the `Target`, so that each default is written here once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from driftwatch.compare.diff import DiffOptions
from driftwatch.notify.conditions import Condition

TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"target", "dialect", "instance", "job"})
# the longest duration any setting may have: PostgreSQL's longest timeout (2^31 - 1 ms), far
# beyond any sensible interval, and short of what datetime and the scheduler overflow on
MAX_SECONDS = 2_147_483
# inf and nan are refused: they pass gt=0 (inf) or fail it with a misleading message
FROZEN = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


def _bounded_seconds(value: object) -> object:
    """Every float setting is a duration in seconds; none may exceed MAX_SECONDS."""
    if isinstance(value, float) and value > MAX_SECONDS:
        raise ValueError(f"must be at most {MAX_SECONDS} seconds (about 24 days)")
    return value


DEFAULT_VERSION_TABLE = "alembic_version"  # alembic's own default


class Timeouts(BaseModel):
    """How long a check may wait on a monitored database, in seconds."""

    model_config = FROZEN
    _durations = field_validator("*")(_bounded_seconds)

    connect_timeout_seconds: float = Field(default=10, gt=0)
    statement_timeout_seconds: float = Field(default=30, gt=0)
    lock_timeout_seconds: float = Field(default=2, gt=0)
    check_timeout_seconds: float = Field(default=300, gt=0)


class Comparison(BaseModel):
    """How the live schema is compared with the expected one."""

    model_config = FROZEN

    # the pure diff's own defaults (a diff called without options compares the same)
    compare_type: bool = DiffOptions().compare_type
    compare_server_default: bool = DiffOptions().compare_server_default
    # "snapshot" in a scratch database, "alembic" through its autogenerate, "auto" the first
    # where a scratch database is had
    comparison: Literal["auto", "snapshot", "alembic"] = "auto"

    @property
    def diff_options(self) -> DiffOptions:
        return DiffOptions(
            compare_type=self.compare_type, compare_server_default=self.compare_server_default
        )


class UrlSource(BaseModel):
    """A secret URL: written inline, named by environment variable, or kept in a file."""

    model_config = FROZEN

    url: SecretStr | None = None
    url_env: str | None = None
    url_file: Path | None = None

    @model_validator(mode="after")
    def _one_url_source(self) -> UrlSource:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of url, url_env, url_file (got {', '.join(given)})")
        return self


class TargetSettings(UrlSource, Comparison, Timeouts):
    """One monitored database, as written in the configuration."""

    model_config = FROZEN
    _durations = field_validator("*")(_bounded_seconds)

    name: str
    alembic_ini: Path | None = None
    script_location: str | None = None
    version_locations: StrList = Field(default_factory=list)
    version_table: str = DEFAULT_VERSION_TABLE
    version_table_schema: str | None = None
    metadata: StrList = Field(default_factory=list)
    imports: StrList = Field(default_factory=list)
    schemas: StrList = Field(default_factory=list)
    include_tables: StrList = Field(default_factory=list)
    exclude_tables: StrList = Field(default_factory=list)
    scratch_url: SecretStr | None = None  # a server where driftwatch may CREATE DATABASE
    scratch_url_env: str | None = None
    # for migration chains that do not start from an empty database: a `module:callable`
    # called with the scratch database's connection before the first migration, and/or a
    # revision stamped before replaying the rest
    replay_bootstrap: str | None = None
    replay_stamp: str | None = None
    # the `module:callable` filters of the project's env.py (alembic's include_name and
    # include_object), asked by both comparisons
    include_name: str | None = None
    include_object: str | None = None
    baseline: Path | None = None  # a JSON file of accepted findings (driftwatch.compare.baseline)
    # expected states prebuilt by `driftwatch snapshot build`: checked from them alone (no
    # scripts, no models, no scratch database)
    expected_dir: Path | None = None
    interval_seconds: float | None = Field(default=None, gt=0)
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

    @field_validator("replay_bootstrap", "include_name", "include_object")
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
        if self.scratch_url is not None and self.scratch_url_env is not None:
            raise ValueError("give scratch_url or scratch_url_env, not both")
        if self.alembic_ini is not None and self.script_location is not None:
            raise ValueError("give alembic_ini or script_location, not both")
        return self


HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class NotifierSettings(UrlSource):
    """One webhook receiver of `driftwatch serve` (a `[[notifiers]]` entry)."""

    model_config = FROZEN
    _durations = field_validator("*")(_bounded_seconds)

    type: Literal["alertmanager", "slack", "webhook"]
    name: str | None = None  # default: the type
    events: list[Condition] | None = None  # default: every condition
    targets: StrList = Field(default_factory=list)  # default: every target
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

    @model_validator(mode="before")
    @classmethod
    def _no_own_windows(cls, data: object) -> object:
        for key in ("pending_threshold_seconds", "check_failing_threshold_seconds"):
            if isinstance(data, dict) and key in data:
                condition = key.removesuffix("_threshold_seconds")
                raise ValueError(
                    f"{key} is gone: set alert_windows.{condition} (one window per condition, "
                    "for every notifier and the Prometheus rules)"
                )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> NotifierSettings:
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
    """Everything driftwatch reads from its configuration sources (see `loading`)."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTWATCH_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        # .env is shared with the application (DATABASE_URL ...): only our prefix is ours
        dotenv_filtering="match_prefix",
        allow_inf_nan=False,
    )
    _durations = field_validator("*")(_bounded_seconds)

    targets: list[TargetSettings] = Field(default_factory=list)
    notifiers: list[NotifierSettings] = Field(default_factory=list)
    # seconds a condition must hold before it is announced, by webhooks and by the generated
    # Prometheus rules alike; a condition not named keeps its default (conditions.RULES)
    alert_windows: dict[Condition, float] = Field(default_factory=dict)
    # where people reach this daemon (behind its ingress); notifications link to it
    public_url: str | None = None
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
    # the exporter-toolkit's format (serve.web_config): TLS, client certificates, bcrypt
    # users, response headers; instead of the tls_* and basic_auth_* keys above
    web_config_file: Path | None = None
    state_file: Path | None = None  # notifications' memory across restarts (notify.state_file)
    # expected states' snapshots (default: $XDG_CACHE_HOME/driftwatch or ~/.cache/driftwatch)
    cache_dir: Path | None = None

    @field_validator("alert_windows")
    @classmethod
    def _windows_are_durations(cls, windows: dict[Condition, float]) -> dict[Condition, float]:
        for condition, seconds in windows.items():
            if not 0 <= seconds <= MAX_SECONDS:
                raise ValueError(f"{condition.value}: must be 0 to {MAX_SECONDS} seconds")
        return windows

    @field_validator("public_url")
    @classmethod
    def _public_url_is_a_web_address(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("cannot be parsed as a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            # it is shown in every notification
            raise ValueError("must not carry a user name or password")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment: links are made under its path")
        return url.rstrip("/")

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
        if self.web_config_file is not None and (self.tls_cert_file or self.basic_auth_username):
            raise ValueError(
                "give web_config_file or the tls_* and basic_auth_* keys, not both "
                "(the web config file holds TLS and its users itself)"
            )
        return self
