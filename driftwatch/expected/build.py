"""Build every expected state of one target into a folder: `driftwatch snapshot build`.

What an application's CI runs, with its code and a scratch database at hand, so that a
central daemon checks the application's databases from the folder alone (`expected_dir`):
the models' state, the state at every revision of the scripts and at their heads, and a
manifest (see `expected.prebuilt_manifest`). Nothing here prints; the folder is written by
`expected.prebuilt.publish` (atomically, as the manifest last).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import MetaData

from driftwatch import __version__
from driftwatch.config.targets import Target
from driftwatch.expected.every_revision import replay_every_revision
from driftwatch.expected.models_key import models_key
from driftwatch.expected.prebuilt import publish, state_file
from driftwatch.expected.prebuilt_manifest import Manifest
from driftwatch.expected.scratch import ScratchUnavailableError
from driftwatch.expected.sources import load_expected
from driftwatch.expected.states import ReplayPlan, default_states, replay_plan, scripts_key
from driftwatch.snapshot import Snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class Built:
    """What a build published, for the one line the CLI says."""

    manifest: Manifest
    files: int  # distinct state files


async def build_expected(
    target: Target, out_dir: Path, *, cache_dir: Path | None, now: datetime
) -> Built:
    """Replay every revision of `target`'s scripts and build its models in the scratch
    database, and publish them in `out_dir`."""
    expected = await asyncio.to_thread(load_expected, target)
    plan = replay_plan(target, expected)
    assert plan is not None  # load_expected always reads the directory
    states = default_states(cache_dir)
    try:
        models = None
        if expected.metadata is not None:
            state = await states.models(expected.metadata, target.dialect, target.scratch_url)
            if state.snapshot is None:
                raise ScratchUnavailableError(
                    f"no scratch database to build the models in: {state.unavailable}",
                    target=target.name,
                )
            models = state.snapshot
        every = await replay_every_revision(states.scratch, plan, expected.scripts)
    except ScratchUnavailableError as exc:
        raise ScratchUnavailableError(exc.message, target=target.name) from None
    finally:
        await states.close()
    files: dict[str, bytes] = {}

    def named(snapshot: Snapshot | None) -> str | None:
        if snapshot is None:
            return None
        digest, data = state_file(snapshot)
        files[digest] = data
        return digest

    keys = await asyncio.to_thread(_keys, plan, expected.metadata, target.dialect)
    heads_state = named(every.heads)
    assert heads_state is not None
    manifest = Manifest(
        target=target.name,
        dialect=target.dialect,
        server_version=every.heads.server_version,
        built_at=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        driftwatch_version=__version__,
        scripts_key=keys[0],
        models_key=keys[1],
        version_table=target.version_table,
        graph=expected.scripts,
        order=every.order,
        revision_states={rev: d for rev in every.order if (d := named(every.at.get(rev)))},
        base_state=named(every.base),
        heads_state=heads_state,
        models_state=named(models),
    )
    await asyncio.to_thread(publish, out_dir, manifest, files)
    return Built(manifest=manifest, files=len(files))


def _keys(plan: ReplayPlan, metadata: MetaData | None, dialect: str) -> tuple[str, str | None]:
    """The content keys of the scripts and of the models the states were built from."""
    return scripts_key(plan), None if metadata is None else models_key(metadata, dialect)
