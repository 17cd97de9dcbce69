"""Which files the models' code was read from, so that a daemon notices when it changes.

Once the models are imported, every module in the interpreter loaded from a file outside the
Python installation, the installed packages and driftwatch itself counts as the project's
code. In a fresh interpreter that imported one target's models (`models_worker`), that is
exactly their code; in a daemon that imported several targets' it is their union: an edit
of another target's models only costs a needless rebuild. Stamped with `stamps.stamp`.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

_OWN_PACKAGE = str(Path(__file__).resolve().parents[1])


def _outside_project() -> tuple[str, ...]:
    paths = {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages())
    paths.add(site.getusersitepackages())
    return (*sorted(str(Path(p).resolve()) for p in paths if p), _OWN_PACKAGE)


_OUTSIDE = _outside_project()


def project_files() -> tuple[str, ...]:
    """The files of every module loaded so far from the project's own code, sorted."""
    found = set()
    for module in list(sys.modules.values()):  # a copy: another thread may be importing
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str):
            continue  # built in, frozen, or a namespace package (no file of its own)
        path = str(Path(filename).resolve())
        if not any(path == p or path.startswith(p + os.sep) for p in _OUTSIDE):
            found.add(path)
    return tuple(sorted(found))
