"""The models' expected state against the live schema: scope, version alignment, diff. Pure."""

from __future__ import annotations

from driftwatch.compare.align import align
from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.findings import Finding
from driftwatch.snapshot import Snapshot


def compare_models(
    models: Snapshot, live: Snapshot, options: DiffOptions, *, built: str = "models built"
) -> tuple[list[Finding], tuple[str, ...]]:
    """The findings of `live` against `models` (cut to what `live` watches), and notes on
    what was not compared or whom: the servers' versions when they differ (`built` says how
    the expected state was made)."""
    expected, notes = expected_state(models, live)
    if models.server_version != live.server_version and models.dialect != "sqlite":
        notes = (
            f"{built} on {models.dialect} {models.server_version}, database {live.server_version}",
            *notes,
        )
    return diff(expected, live, options), notes


def expected_state(models: Snapshot, live: Snapshot) -> tuple[Snapshot, tuple[str, ...]]:
    """What `live` is compared with: `models` cut to its scope and aligned to its server
    version (also the state a fix restores), and the notes of the alignment."""
    return align(models.within(live.scope), live)
