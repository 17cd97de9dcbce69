"""The daemon's models follow their code: when a file they were read from changes, the next
check uses models imported anew, in a fresh interpreter (`models_worker`), never by
reloading modules in the daemon.

Each check stamps the models' files (one stat each, `stamps`). When the stamp moved, a worker
process imports the models and builds their snapshot on the target's scratch server (the
daemon's embedded one included), within the target's check timeout, and is killed if the
check is cancelled. Its snapshot then is the models' state of every check until the next
change. A worker that fails on the project's code (a syntax error, an import that fails)
fails the target's checks with its one line until a file changes again: one of the models'
files, or one the worker read before failing (a module the new code imports, which the
models' files as they were never named); any other failure (a timeout, a scratch server
down, a worker that cannot start) is retried at the next check.

Without a scratch database, or with `comparison = "alembic"`, the models are compared
in-process through alembic, which needs the MetaData imported at start: the report says
that the models changed and that the comparison still uses the ones imported at start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import dataclass, replace
from typing import Any

from driftwatch.bounds import clip
from driftwatch.config.targets import Target
from driftwatch.errors import DriftwatchError, MetadataError
from driftwatch.expected.models_worker import convention_text, request_for
from driftwatch.expected.sources import Expected
from driftwatch.expected.stamps import Stamp, stamp
from driftwatch.expected.states import ExpectedStates, scratch_identity
from driftwatch.snapshot import SnapshotFormatError, from_json

log = logging.getLogger("driftwatch.daemon")

WORKER = "driftwatch.expected.models_worker"
STDERR_KEPT = 4096  # the tail of what a worker wrote to stderr, for its error line


class ModelsRebuildError(DriftwatchError):
    """The models' code changed and a fresh interpreter could not build their state."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Failure:
    # the models' files, and those the worker read before failing, as they were then
    stamp: Stamp
    error: str


def _failure_stamp(now: Stamp, answer: dict[str, Any]) -> Stamp:
    """`now` (the models' files before the worker ran) and the stamp the worker took of
    the files it read: a file in both keeps its earlier entry, so an edit made while the
    worker ran is still a change."""
    try:
        seen = {str(p): (str(p), int(i), int(m), int(s)) for p, i, m, s in answer.get("stamp", [])}
    except (TypeError, ValueError):
        seen = {}  # nonsense: the models' files alone
    seen.update((entry[0], entry) for entry in now)
    return tuple(sorted(seen.values()))


class ModelsFollower:
    """Keeps each target's expected models in step with their code (see the module)."""

    def __init__(self, states: ExpectedStates) -> None:
        self._states = states
        self._failed: dict[str, _Failure] = {}  # by target, while its models' code fails

    async def refresh(self, target: Target, expected: Expected) -> Expected:
        """`expected` with its models rebuilt if their code changed since they were read.

        Raises a one-line DriftwatchError when the new code does not build."""
        if expected.metadata is None or not expected.model_files:
            return expected
        now = await asyncio.to_thread(stamp, expected.model_files)
        if now == expected.model_stamp:
            return expected
        reason = self._cannot_follow(target)
        if reason is not None:
            if expected.models_note is not None:
                return expected
            return replace(
                expected,
                models_note=f"the models' code changed since driftwatch serve started and "
                f"{reason}: this comparison uses the models imported at start (restart to "
                "compare the new ones)",
            )
        failed = self._failed.get(target.name)
        if failed is not None:
            paths = [entry[0] for entry in failed.stamp]
            if await asyncio.to_thread(stamp, paths) == failed.stamp:
                raise MetadataError(failed.error)
        log.info("models' code changed: rebuilding", extra={"fields": {"target": target.name}})
        try:
            answer = await self._run_worker(target)
        except ModelsRebuildError:
            self._failed.pop(target.name, None)
            raise
        if not answer.get("ok"):
            error = f"{answer.get('error')} (after the models' code changed)"
            if answer.get("project"):
                self._failed[target.name] = _Failure(stamp=_failure_stamp(now, answer), error=error)
                raise MetadataError(error)
            raise ModelsRebuildError(error)
        self._failed.pop(target.name, None)
        try:
            snapshot = from_json(answer["snapshot"], origin="the models' worker")
            files = tuple(str(f) for f in answer["files"])
            seen: Stamp = tuple((str(p), int(i), int(m), int(s)) for p, i, m, s in answer["stamp"])
        except (KeyError, TypeError, ValueError, SnapshotFormatError) as exc:
            raise ModelsRebuildError(
                f"the models' worker answered nonsense: {exc}", target=target.name
            ) from None
        note = None
        if answer.get("convention") != convention_text(expected.metadata):
            note = (
                "the models' naming convention changed since driftwatch serve started: "
                "migrations are replayed with the one imported at start (restart to use it)"
            )
        log.info(
            "models rebuilt",
            extra={"fields": {"target": target.name, "tables": len(snapshot.tables)}},
        )
        return replace(
            expected,
            model_files=files,
            model_stamp=seen,
            rebuilt_models=snapshot,
            models_note=note,
        )

    def _cannot_follow(self, target: Target) -> str | None:
        if target.compare.comparison == "alembic":
            return 'comparison = "alembic" compares them in-process'
        unavailable = self._states.scratch.available(target.dialect, target.scratch_url)
        if unavailable is not None:
            return f"there is no scratch database to build them in ({unavailable})"
        return None

    async def _run_worker(self, target: Target) -> dict[str, Any]:
        """The worker's answer; ModelsRebuildError when it gave none (timed out, crashed)."""
        server = await self._states.scratch.server_url(target.dialect, target.scratch_url)
        request = request_for(
            target,
            scratch_url=server,
            identity=scratch_identity(target.dialect, target.scratch_url),
            cache_dir=self._states.cache.directory,
        )
        timeout = target.timeouts.check_timeout_seconds
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:  # the interpreter gone, too many open files or processes
            raise ModelsRebuildError(
                f"the models' worker could not start ({sys.executable}): "
                f"{clip(exc.strerror or str(exc))}",
                target=target.name,
            ) from None
        assert process.stdin is not None and process.stdout is not None  # the pipes asked for
        assert process.stderr is not None  # the pipes asked for
        try:
            async with asyncio.timeout(timeout):
                try:
                    process.stdin.write(json.dumps(request).encode() + b"\n")
                    await process.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # it ended before reading its request: its exit code and stderr say why
                out, err = await asyncio.gather(process.stdout.read(), _tail(process.stderr))
                code = await process.wait()
        except TimeoutError:
            raise ModelsRebuildError(
                f"rebuilding the models after their code changed took longer than "
                f"{timeout:g} s (check_timeout_seconds)",
                target=target.name,
            ) from None
        finally:
            if process.returncode is None:  # timed out, or the check was cancelled
                process.kill()
                await process.wait()
            process.stdin.close()
        try:
            answer = json.loads(out)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise ModelsRebuildError(
                f"the models' worker ended with exit code {code} and no answer: {clip(last[0])}",
                target=target.name,
            )
        return answer


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """Read `stream` to its end, keeping only its last STDERR_KEPT bytes."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-STDERR_KEPT:]
    return kept
