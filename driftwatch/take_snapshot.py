"""Take one target's schema snapshot: of its live database, of its models, of a revision.

What `driftwatch snapshot` runs. The live database is read by `live/` exactly as a check
reads it (read-only session, timeouts, the check's scope, the version table left out); the
models are materialised, and a revision replayed, in a scratch database by `expected/`
exactly as for a check (and cached alike). Nothing here prints or writes a file: see
`snapshot_file` and the CLI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import MetaData

from driftwatch.config.targets import Target
from driftwatch.errors import ConfigError
from driftwatch.expected.replay import ReplayError
from driftwatch.expected.scratch import ScratchUnavailableError
from driftwatch.expected.sources import load_expected
from driftwatch.expected.states import default_states, replay_plan
from driftwatch.live.observe import make_engine, read_live
from driftwatch.snapshot import Snapshot


async def take_live(target: Target, metadata: MetaData | None) -> Snapshot:
    """The live database's schema in the scope a check of `target` with `metadata` reads."""
    engine = make_engine(target)
    try:
        return await read_live(engine, target, metadata)
    finally:
        await engine.dispose()


async def take_models(
    target: Target, metadata: MetaData | None, *, cache_dir: Path | None
) -> Snapshot:
    """The models' schema as the target's scratch database builds it (see
    `expected.states`); a one-line error where there are no models or no scratch database."""
    if metadata is None:
        raise ConfigError(
            "no models configured (metadata): nothing to snapshot", target=target.name
        )
    states = default_states(cache_dir)
    try:
        state = await states.models(metadata, target.dialect, target.scratch_url)
    finally:
        await states.close()
    if state.snapshot is None:
        raise ScratchUnavailableError(
            f"no scratch database to build the models in: {state.unavailable}",
            target=target.name,
        )
    return state.snapshot


async def take_revision(target: Target, revision: str, *, cache_dir: Path | None) -> Snapshot:
    """Revision `revision`'s schema (an id, a unique prefix of one, or `head`), as replaying
    the scripts from empty up to it builds it in the target's scratch database (cached
    alike: see `expected.states`)."""
    expected = await asyncio.to_thread(load_expected, target)
    directory = expected.directory
    assert directory is not None  # load_expected always reads it
    try:
        script = directory.get_revision(revision)
    except (CommandError, RevisionError, ValueError) as exc:
        raise ConfigError(f"revision {revision!r}: {exc}", target=target.name) from None
    if script is None:
        raise ConfigError(f"revision {revision!r} is not in the scripts", target=target.name)
    plan = replay_plan(target, expected)
    assert plan is not None  # load_expected always reads the directory
    states = default_states(cache_dir)
    try:
        replayed = await states.revisions(plan, (script.revision,), [])
    finally:
        await states.close()
    if replayed.at_database is None:
        raise ReplayError(
            f"revision {script.revision} could not be replayed: {replayed.unavailable}",
            target=target.name,
        )
    return replayed.at_database
