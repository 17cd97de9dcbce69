"""Import one target's models in a fresh interpreter and build their snapshot: the daemon's
way to follow models whose code changed (`follow`), since a module once imported cannot be
imported anew in the same interpreter (reloading leaves stale classes and registries behind).

Run as `python -m driftwatch.expected.models_worker`. The request is one JSON line on stdin
(never in argv: it may hold the scratch server's password); the answer is one JSON document
on stdout, where nothing else is written (what the models print goes to stderr). Stdin stays
open while the daemon waits: its end means the daemon is gone, and the worker ends at once
rather than outlive it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.engine import URL, make_url

from driftwatch.config.targets import ASYNC_DRIVERS, Target
from driftwatch.errors import DriftwatchError, MetadataError, ScriptsError
from driftwatch.expected.cache import SnapshotCache
from driftwatch.expected.model_files import failed_files, project_files
from driftwatch.expected.scratch import ScratchServers
from driftwatch.expected.sources import describe_raised, load_models
from driftwatch.expected.stamps import stamp
from driftwatch.expected.states import ExpectedStates
from driftwatch.snapshot import to_json

ORPHANED_EXIT = 70  # the daemon went away while the worker ran


def convention_text(metadata: MetaData) -> str:
    """The models' naming convention as text that is equal in every process for equal
    conventions (a callable token is named by where it is defined, not by its address)."""

    def text(value: object) -> str:
        if isinstance(value, str):
            return value
        if callable(value):
            return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
        return repr(value)

    return json.dumps(sorted((text(k), text(v)) for k, v in metadata.naming_convention.items()))


def request_for(
    target: Target, *, scratch_url: URL | None, identity: str, cache_dir: Path | None
) -> dict[str, Any]:
    """What the worker needs to import `target`'s models and build them; no database URL of
    the target's: the worker never connects to a monitored database."""
    return {
        "target": {
            "name": target.name,
            "dialect": target.dialect,
            "alembic_ini": None if target.alembic_ini is None else str(target.alembic_ini),
            "script_location": target.script_location,
            "version_locations": list(target.version_locations),
            "metadata": list(target.metadata),
            "imports": list(target.imports),
        },
        "sys_path": list(sys.path),  # the daemon's, prepend_sys_path and all
        "scratch_url": None
        if scratch_url is None
        else scratch_url.render_as_string(hide_password=False),
        "identity": identity,
        "cache_dir": None if cache_dir is None else str(cache_dir),
    }


def _target(fields: dict[str, Any]) -> Target:
    return Target(
        name=fields["name"],
        url=URL.create(ASYNC_DRIVERS[fields["dialect"]]),  # a dialect only, never connected
        alembic_ini=None if fields["alembic_ini"] is None else Path(fields["alembic_ini"]),
        script_location=fields["script_location"],
        version_locations=tuple(fields["version_locations"]),
        metadata=tuple(fields["metadata"]),
        imports=tuple(fields["imports"]),
    )


async def _build(request: dict[str, Any]) -> dict[str, Any]:
    target = _target(request["target"])
    metadata = load_models(target)
    if metadata is None:
        raise MetadataError("no models configured (metadata)", target=target.name)
    files = project_files()
    seen = stamp(files)  # right after the import: an edit from now on is the next change
    raw_url = request["scratch_url"]
    scratch_url = None if raw_url is None else make_url(raw_url)
    cache_dir = request["cache_dir"]
    states = ExpectedStates(
        scratch=ScratchServers(embedded=False),
        cache=SnapshotCache(None if cache_dir is None else Path(cache_dir)),
    )
    try:
        state = await states.models(
            metadata, target.dialect, scratch_url, identity=request["identity"]
        )
    finally:
        await states.close()
    if state.snapshot is None:
        raise DriftwatchError(f"no scratch database: {state.unavailable}", target=target.name)
    return {
        "ok": True,
        "files": list(files),
        "stamp": [list(entry) for entry in seen],
        "convention": convention_text(metadata),
        "snapshot": to_json(state.snapshot),
    }


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request: the models' snapshot, or one line saying what failed
    (`project`: the models' or scripts' own code, which fails again until it is edited) with
    the files that code was read from and their stamp (their folders' too, so that a module
    created where one was missing counts as an edit)."""
    sys.path[:] = request["sys_path"]
    try:
        return asyncio.run(_build(request))
    except DriftwatchError as exc:
        error, project = str(exc), isinstance(exc, MetadataError | ScriptsError)
        failed: BaseException = exc
    except BaseException as exc:  # the models' code (a custom type compiling), or a bug
        name = request["target"]["name"]
        error, project, failed = f"target {name!r}: {describe_raised(exc)}", False, exc
    files = failed_files(failed)
    return {
        "ok": False,
        "error": error,
        "project": project,
        "files": list(files),
        "stamp": [list(entry) for entry in stamp(files, folders=True)],  # right after the failure
    }


def _read_line(fd: int) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def _exit_at_end_of(fd: int, exit_now: Callable[[int], None]) -> None:
    """Wait for the end of `fd` (the daemon closed it, or died) and end the process."""
    while os.read(fd, 4096):
        pass
    exit_now(ORPHANED_EXIT)


def main() -> None:
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # what the models print goes to stderr, never into the answer
    request = json.loads(_read_line(0))
    threading.Thread(target=_exit_at_end_of, args=(0, os._exit), daemon=True).start()
    reply = answer(request)
    result.write(json.dumps(reply, separators=(",", ":")))
    result.flush()
    sys.stderr.flush()
    os._exit(0)  # not the models' atexit hooks, nor waiting on the watching thread


if __name__ == "__main__":
    main()
