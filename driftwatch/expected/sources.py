"""The expected side, read without a database: the migration scripts and the models.

Nothing here runs the project's env.py. Scripts are read with alembic's public
ScriptDirectory; models, and the env.py filters a target names, are imported from
`module:attr` paths.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData

from driftwatch.compare.filters import ProjectFilters
from driftwatch.config.alembic_ini import read_alembic_ini
from driftwatch.config.targets import Target
from driftwatch.errors import (
    ConfigError,
    DriftwatchError,
    FilterError,
    MetadataError,
    ScriptsError,
    of_target,
)
from driftwatch.expected.model_files import project_files
from driftwatch.expected.stamps import Stamp, stamp
from driftwatch.revisions import ScriptGraph, ScriptRevision
from driftwatch.snapshot import Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """What the code says the database should be."""

    scripts: ScriptGraph
    metadata: MetaData | None  # None: no models configured, schema comparison is skipped
    script_files: tuple[str, ...] = ()  # where `scripts` was read from, to notice edits
    script_stamp: Stamp = ()  # their stamp when read (see `stamps`)
    directory: ScriptDirectory | None = None  # alembic's own view of the scripts, for replay
    model_files: tuple[str, ...] = ()  # where the models' code was read from (`model_files`)
    model_stamp: Stamp = ()  # their stamp when read
    # the models' state as a fresh interpreter built it once their code changed (the daemon,
    # see `follow`): it, not `metadata`, is then what the models say
    rebuilt_models: Snapshot | None = None
    models_note: str | None = None  # why a comparison still uses `metadata` though it changed
    # env.py's include_name / include_object
    filters: ProjectFilters = field(default_factory=ProjectFilters)


def _prepend_sys_path(paths: list[str]) -> None:
    for entry in reversed(paths):
        if entry not in sys.path:
            sys.path.insert(0, entry)


@contextmanager
def _alembic_errors(what: str) -> Iterator[None]:
    """Loading scripts runs the project's revision files: whatever they raise, and however
    they exit, becomes one ScriptsError line (see `_project_code`)."""
    with _project_code(ScriptsError, what):
        try:
            yield
        except CommandError as exc:
            raise ScriptsError(f"{what}: {_first_line(exc)}") from None
        except (SyntaxError, ImportError) as exc:
            raise ScriptsError(
                f"{what}: a migration script does not load: {_first_line(exc)}"
            ) from None
        except (KeyError, TypeError) as exc:
            if project_frame(exc) is not None:
                raise  # the revision file's own code: _project_code says where
            # alembic's revision map looks revisions up by the ids the files name
            if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
                raise ScriptsError(
                    f"{what}: revision {exc.args[0]!r} is named as a down_revision or "
                    "depends_on, but no script defines it"
                ) from None
            raise ScriptsError(
                f"{what}: a revision, down_revision or depends_on is not a string or a tuple "
                f"of strings ({_describe(exc)})"
            ) from None


@contextmanager
def _project_code(error: type[DriftwatchError], what: str) -> Iterator[None]:
    """Run the project's own code (models modules, migration scripts): whatever it raises,
    and however it exits, becomes one line of `error` naming where it happened.

    BaseException too: a module calling sys.exit(), or raising KeyboardInterrupt,
    GeneratorExit or a BaseException of its own, would otherwise end `check` silently with
    its own exit code, or end a daemon's job and freeze its target. Cancellation is not lost
    by this: the code here is synchronous (a worker thread of the daemon or of `check`), and
    a task is cancelled at an await, never inside it, so any CancelledError met here was
    raised by the project.
    """
    try:
        yield
    except DriftwatchError:
        raise
    except BaseException as exc:  # see the docstring
        raise error(f"{what}: {describe_raised(exc)}") from None


def describe_raised(exc: BaseException) -> str:
    """`Type: first line` of what the project's code raised, and where, on one line."""
    where = project_frame(exc)
    return _describe(exc) + (f" (at {where})" if where else "")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


# where the interpreter and the installed packages live: frames there are not the project's
_LIBRARY_PATHS = tuple(
    {str(Path(sysconfig.get_path(name)).resolve()) for name in ("stdlib", "purelib", "platlib")}
)
_OWN_PATH = str(Path(__file__).resolve().parent)


def project_frame(exc: BaseException) -> str | None:
    """`file:line` of the innermost frame of the traceback in the project's own files."""
    found = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if filename.startswith("<") or filename.startswith((*_LIBRARY_PATHS, _OWN_PATH)):
            continue
        found = f"{filename}:{line}"
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _script_directory(target: Target) -> ScriptDirectory:
    for folder in target.version_locations:
        if ":" not in folder and not Path(folder).is_dir():
            raise ScriptsError(f"version_locations: {folder} does not exist", target=target.name)
    if target.alembic_ini is not None:
        try:  # one line per error; alembic's own parser's are many lines long
            ini = read_alembic_ini(target.alembic_ini)
            config = ini.alembic_config()
            prepend = ini.prepend_sys_path()
        except ConfigError as exc:
            raise ScriptsError(exc.message, target=target.name) from None
        config.set_main_option("prepend_sys_path", "")
        if target.version_locations:
            config.set_main_option("path_separator", "os")
            config.set_main_option("version_locations", ":".join(target.version_locations))
        _prepend_sys_path(prepend)
        return ScriptDirectory.from_config(config)
    location = target.script_location
    if location is None:
        raise ScriptsError("set alembic_ini or script_location", target=target.name)
    if ":" not in location and not Path(location).is_dir():
        raise ScriptsError(f"script_location {location} does not exist", target=target.name)
    config = Config()
    config.set_main_option("script_location", location)
    if target.version_locations:
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", ":".join(target.version_locations))
    return ScriptDirectory.from_config(config)


def load_scripts(target: Target) -> tuple[ScriptGraph, tuple[str, ...], ScriptDirectory]:
    """Read every revision of the target's migration scripts into a plain graph.

    Also returns the files read, so a long-running caller can tell when they change, and
    alembic's ScriptDirectory, which replays them.
    """
    files: list[str] = []
    revised: set[str] = set()  # every down_revision, to tell a real head (see _defined_twice)
    what = "migration scripts"
    with of_target(target.name), _alembic_errors(what):
        directory = _script_directory(target)
        revisions: dict[str, ScriptRevision] = {}
        for script in directory.walk_revisions():
            files.append(script.path)
            parents = _tuple(script.down_revision)
            revised.update(parents)
            depends = tuple(_revision_id(directory, dep) for dep in _tuple(script.dependencies))
            revisions[script.revision] = ScriptRevision(
                revision=script.revision, parents=parents + depends, message=script.doc
            )
        heads = tuple(directory.get_heads())
        twice = _defined_twice(heads, revised)
        if twice is not None:
            raise ScriptsError(
                f"{what}: revision {twice!r} is defined by more than one script "
                f"(one is {directory.get_revision(twice).path})"
            )
    if not revisions:
        raise ScriptsError("the migration scripts hold no revision", target=target.name)
    return ScriptGraph(revisions=revisions, heads=heads), tuple(files), directory


def _defined_twice(heads: tuple[str, ...], revised: set[str]) -> str | None:
    """A revision id two scripts define, if any (`revised`: every down_revision).

    alembic only warns, and keeps the script it read last; the other stays behind as a head
    of its own. So a duplicated id shows in the heads twice, or as a head that a script
    revises (which a real head never is).
    """
    return next((h for h in heads if heads.count(h) > 1 or h in revised), None)


def _revision_id(directory: ScriptDirectory, name: str) -> str:
    """A dependency may name a branch label; the graph wants the revision it stands for."""
    script = directory.get_revision(name)
    if script is None:
        raise ScriptsError(f"dependency {name!r} names no revision")
    return script.revision


def _tuple(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _import(module_name: str, origin: str, error: type[DriftwatchError] = MetadataError) -> object:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"{origin}: cannot import {module_name!r}: {_first_line(exc)}") from None
    except BaseException as exc:  # the module raised or exited (_project_code)
        raise error(f"{origin}: importing {module_name!r} failed: {describe_raised(exc)}") from None


def _dotted(name: str) -> bool:
    """`name` is a dotted Python name (`app.models`): no blank, no leading dot."""
    return all(part.isidentifier() for part in name.split("."))


def import_object(path: str, origin: str, error: type[DriftwatchError] = MetadataError) -> object:
    """The object a `module:attr.attr` path names, imported as the project's code is: what
    goes wrong is one line of `error` (the models' MetaData, a replay's bootstrap hook)."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not _dotted(module_name) or not _dotted(attr_path):
        raise error(
            f"{origin}: {path!r} is not of the form module:attribute "
            "(dotted Python names, as in app.models:Base.metadata)"
        )
    obj = _import(module_name, origin, error)
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise error(f"{origin}: {path!r}: no attribute {attr!r}") from None
    return obj


def _resolve(path: str, origin: str) -> MetaData:
    obj = import_object(path, origin)
    if not isinstance(obj, MetaData):
        raise MetadataError(f"{origin}: {path!r} is a {type(obj).__name__}, not a MetaData")
    return obj


def load_metadata(target: Target) -> MetaData | None:
    """Import the target's models and return their MetaData, merged when several are named."""
    origin = "metadata"
    # attributes and tables may run the project's code too
    with of_target(target.name), _project_code(MetadataError, origin):
        for module_name in target.imports:
            if not _dotted(module_name):
                raise MetadataError(f"{origin}: imports: {module_name!r} is not a module name")
            _import(module_name, origin)
        found = [_resolve(path, origin) for path in target.metadata]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        merged = MetaData(naming_convention=found[0].naming_convention)
        for metadata in found:
            for table in metadata.tables.values():
                if table.key in merged.tables:
                    raise MetadataError(f"{origin}: table {table.key!r} is defined twice")
                table.to_metadata(merged)
        return merged


def load_filters(target: Target) -> ProjectFilters:
    """The filters of the project's env.py the target names (`include_name`,
    `include_object`), imported as the models are. A path that does not import, or names no
    callable, is one MetadataError line; a filter that raises or exits while it is asked
    (by either comparison) is one FilterError line naming it."""
    return ProjectFilters(
        include_name=_filter(target, "include_name", target.include_name),
        include_object=_filter(target, "include_object", target.include_object),
    )


def _filter(target: Target, setting: str, path: str | None) -> Callable[..., bool] | None:
    if path is None:
        return None
    origin = f"target {target.name!r} {setting}"
    with _project_code(MetadataError, origin):  # its attributes may run the project's code
        found = import_object(path, origin)
    if not callable(found):
        raise MetadataError(f"{origin}: {path!r} is not callable ({type(found).__name__})")
    label = f"{setting} {path}"

    def guarded(*args: Any) -> bool:
        try:
            return bool(found(*args))
        except BaseException as exc:  # as `_project_code`: a filter exiting must not end
            # the check or the daemon
            raise FilterError(
                f"{label} failed: {describe_raised(exc)}", target=target.name
            ) from None

    return guarded


def load_models(target: Target) -> MetaData | None:
    """The target's models, imported as a check imports them (blocking: call it from a
    thread). With an alembic.ini its scripts are read first: its `prepend_sys_path` may be
    what puts the models on sys.path."""
    if target.alembic_ini is not None:
        return load_expected(target).metadata
    return load_metadata(target)


def load_expected(target: Target) -> Expected:
    """Scripts first: reading alembic.ini puts its prepend_sys_path on sys.path for the models."""
    scripts, files, directory = load_scripts(target)
    metadata = load_metadata(target)
    models = project_files() if metadata is not None else ()
    return Expected(
        scripts=scripts,
        metadata=metadata,
        script_files=files,
        script_stamp=stamp(files, folders=True),
        directory=directory,
        model_files=models,
        model_stamp=stamp(models),
        filters=load_filters(target),
    )


def refresh_scripts(target: Target, expected: Expected) -> Expected:
    """`expected` with its scripts re-read if a script file changed since; models stay
    (`follow` is for them)."""
    if stamp(expected.script_files, folders=True) == expected.script_stamp:
        return expected
    scripts, files, directory = load_scripts(target)
    return replace(
        expected,
        scripts=scripts,
        script_files=files,
        script_stamp=stamp(files, folders=True),
        directory=directory,
        filters=expected.filters,
    )
