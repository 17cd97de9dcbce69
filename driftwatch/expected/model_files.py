"""Which files the models' code was read from, so that a daemon notices when it changes.

Once the models are imported, every module in the interpreter loaded from a file outside the
Python installation, the installed packages and driftwatch itself counts as the project's
code. In a fresh interpreter that imported one target's models (`models_worker`), that is
exactly their code; in a daemon that imported several targets' it is their union: an edit
of another target's models only costs a needless rebuild. Stamped with `stamps.stamp`.

When the import fails, the module that failed is no longer loaded: `failed_files` adds the
files the error names, so that mending any of them is noticed.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import traceback
from pathlib import Path

_OWN_PACKAGE = str(Path(__file__).resolve().parents[1])


def _outside_project() -> tuple[str, ...]:
    paths = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages())
    paths.add(site.getusersitepackages())
    return (*sorted(str(Path(p).resolve()) for p in paths if p), _OWN_PACKAGE)


_OUTSIDE = _outside_project()


def _of_project(filename: str) -> str | None:
    """`filename` resolved, if it is one of the project's own files."""
    if filename.startswith("<"):
        return None  # frozen, or code compiled from a string
    path = str(Path(filename).resolve())
    if any(path == p or path.startswith(p + os.sep) for p in _OUTSIDE):
        return None
    return path


def project_files() -> tuple[str, ...]:
    """The files of every module loaded so far from the project's own code, sorted."""
    found = set()
    for module in list(sys.modules.values()):  # a copy: another thread may be importing
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            continue  # built in, frozen, or a namespace package (no file of its own)
        path = _of_project(filename)
        if path is not None:
            found.add(path)
    return tuple(sorted(found))


def failed_files(exc: BaseException) -> tuple[str, ...]:
    """The project's files that importing the models read before failing with `exc`, sorted:
    every module still loaded, and the project's files named by `exc` and the errors it
    follows (each frame of their tracebacks, the file a SyntaxError is in). A module whose
    import failed is no longer loaded, yet it is the one to be mended."""
    found = set(project_files())
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.__traceback__)]
        if isinstance(error, SyntaxError) and error.filename:
            names.append(error.filename)
        found.update(path for name in names if (path := _of_project(name)) is not None)
        error = error.__cause__ or error.__context__
    return tuple(sorted(found))
