"""A project's alembic.ini, read once, by one parser, as alembic reads it.

Three things are taken from it: `sqlalchemy.url` (the zero-config target's URL), the
`[driftwatch] metadata` option (so a project needs no driftwatch file), and the `[alembic]`
options the migration scripts are found by. The last are handed to alembic as an in-memory
`Config`, so alembic never parses the file a second time with its own parser and its own
multi-line errors. Errors are one line that never quotes the file: a line of it may be a URL
with a password.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config

from driftwatch.config.secrets import not_text
from driftwatch.errors import ConfigError

MAIN_SECTION = "alembic"


@dataclass(frozen=True, slots=True)
class AlembicIni:
    """The file's options, `%(here)s` resolved to its folder and '%%' to '%'."""

    path: Path
    parser: configparser.ConfigParser

    def option(self, section: str, key: str) -> str:
        """One option's value, "" where absent."""
        try:
            return self.parser.get(section, key, fallback="")
        except configparser.InterpolationError:
            # never echo the value: it may be a URL with a password
            raise ConfigError(
                f"alembic config {self.path}: [{section}] {key} has a bad '%' (write '%%' for '%')"
            ) from None

    @property
    def metadata(self) -> tuple[str, ...]:
        """`[driftwatch] metadata = module:attr ...`: the models this project names."""
        return tuple(self.option("driftwatch", "metadata").split())

    @property
    def url(self) -> str | None:
        return self.option(MAIN_SECTION, "sqlalchemy.url") or None

    def alembic_config(self) -> Config:
        """alembic's Config holding the `[alembic]` options, relative paths anchored here.

        alembic resolves script_location and prepend_sys_path against the working
        directory; a monitor runs from anywhere, so they are anchored at the file's folder.
        """
        config = Config()
        if not self.parser.has_section(MAIN_SECTION):
            return config
        here = self.path.parent
        defaults = set(self.parser.defaults())
        for key in self.parser.options(MAIN_SECTION):
            if key in defaults:
                continue
            value = self.option(MAIN_SECTION, key)
            if key == "script_location" and value and ":" not in value:
                value = str(here / value)  # an absolute value stays as it is
            config.set_main_option(key, value.replace("%", "%%"))
        return config

    def prepend_sys_path(self) -> list[str]:
        """`prepend_sys_path` entries, anchored at the file's folder (see alembic_config)."""
        config = self.alembic_config()
        return [str(self.path.parent / p) for p in (config.get_prepend_sys_paths_list() or [])]


def read_alembic_ini(path: Path) -> AlembicIni:
    """Read `path` as alembic does: `%(here)s` is the file's folder, '%%' stands for '%'."""
    path = path.resolve()
    parser = configparser.ConfigParser(defaults={"here": str(path.parent)})
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
    return AlembicIni(path=path, parser=parser)
