"""Where settings come from, strongest first: command-line flags, the environment
(DRIFTWATCH_ prefix, `__` for nesting), `.env`, the TOML file (`--config`, $DRIFTWATCH_CONFIG,
or ./driftwatch.toml), whose relative paths start at the file. With no target configured, one
comes from the application's own configuration: $DATABASE_URL (or `.env`'s) and ./alembic.ini.
Every source is validated once, here; its mistakes are one line that names it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsError

from driftwatch.config.alembic_ini import read_alembic_ini
from driftwatch.config.secrets import not_text
from driftwatch.config.settings import Settings, TargetSettings
from driftwatch.errors import ConfigError

DEFAULT_CONFIG_FILE = "driftwatch.toml"
CONFIG_ENV = "DRIFTWATCH_CONFIG"
ZERO_CONFIG_TARGET = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class Flags:
    """What the command line says, the strongest source: `settings` of the whole run
    (listen, interval_seconds ...) and `target` settings of the one target chosen with
    `targets` (url, alembic_ini ...). A flag not given is None or empty."""

    targets: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)

    def given(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v not in (None, (), [])}


NO_FLAGS = Flags()


class _Sources(Settings):
    """Settings read from the TOML file (`toml_data`), `.env`, the environment and flags."""

    toml_data: ClassVar[dict[str, Any]] = {}

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
    "": (
        "tls_cert_file",
        "tls_key_file",
        "basic_auth_password_file",
        "state_file",
        "cache_dir",
        "web_config_file",
    ),
    "targets": (
        "alembic_ini",
        "url_file",
        "script_location",
        "version_locations",
        "baseline",
        "expected_dir",
    ),
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


class _FileOnlySettings(_Sources):
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


def load_settings(config: Path | None = None, flags: Flags = NO_FLAGS) -> Settings:
    """Read every source and validate once; raise ConfigError with one line on bad input."""
    path = config_file_path(config)
    data = read_toml(path) if path is not None else {}
    if path is not None:
        _check_file(path, data)
    bound = type("BoundSettings", (_Sources,), {"toml_data": data})
    # the file alone is valid: what is wrong came from the environment, .env or the caller
    origin = "environment (DRIFTWATCH_*), .env or command line"
    try:
        settings: Settings = bound(**flags.given(flags.settings))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    except SettingsError as exc:
        # a list or table (targets, labels) given in the environment or .env that is not JSON
        raise ConfigError(f"environment or .env: {exc} (lists and tables must be JSON)") from None
    except UnicodeDecodeError as exc:  # the environment is decoded already: .env it is
        raise ConfigError(f".env is not UTF-8 text ({not_text(exc)})") from None
    return with_target_flags(settings, flags)


def with_target_flags(settings: Settings, flags: Flags) -> Settings:
    """`settings` with the target flags applied to the one target they choose; with no target
    configured, to the target of the application's own configuration (if it has one)."""
    given = flags.given(flags.target)
    if not settings.targets:
        zero = _zero_config_target(Path.cwd(), given)
        return settings if zero is None else _replaced(settings, [_override(zero, given)])
    if not given:
        return settings
    chosen = [t for t in settings.targets if not flags.targets or t.name in flags.targets]
    if not chosen:  # an unknown name: selecting the targets says so (`targets.build_targets`)
        return settings
    if len(chosen) > 1:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ConfigError(f"{names} apply to one target: choose it with --target")
    (one,) = chosen
    return _replaced(settings, [_override(t, given) if t is one else t for t in settings.targets])


def _replaced(settings: Settings, targets: list[TargetSettings]) -> Settings:
    # validated already, each target and the whole: a copy needs no second reading of sources
    return settings.model_copy(update={"targets": targets})


def _zero_config_target(cwd: Path, flags: Mapping[str, Any]) -> TargetSettings | None:
    """With no targets configured: DATABASE_URL and ./alembic.ini, as the migration guide has
    it; None where there is no alembic.ini and no flag names the scripts."""
    ini = cwd / "alembic.ini"
    has_scripts = flags.get("alembic_ini") or flags.get("script_location")
    if not ini.is_file() and not has_scripts and not flags.get("expected_dir"):
        return None
    url = os.environ.get("DATABASE_URL") or _dotenv_value(cwd / ".env", "DATABASE_URL")
    if not url and ini.is_file():
        url = read_alembic_ini(ini).url
    return TargetSettings(
        name=ZERO_CONFIG_TARGET,
        url=None if url is None else SecretStr(url),
        alembic_ini=ini if ini.is_file() else None,
    )


def _override(ts: TargetSettings, given: Mapping[str, Any]) -> TargetSettings:
    """Apply command-line values to one target; a flag replaces its alternatives."""
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
