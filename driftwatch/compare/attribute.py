"""Attribution: three comparisons, one verdict (DESIGN.md "Attribution"). Pure.

- the live database against the migrations' state at its own revision: `drift`;
- that state against the heads' state: `pending`, each naming the pending revision that
  makes it (the last one to touch the object, as it decides the object's final state);
- the heads' state against the models: `unmigrated`.
Every state is cut to what the live database watches. Only the first comparison meets a
live server, so only it needs the version alignment of `compare_models`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from driftwatch.compare.diff import DiffOptions, diff
from driftwatch.compare.models import compare_models
from driftwatch.findings import Attribution, Finding
from driftwatch.snapshot import Snapshot

ObjectKey = tuple[str | None, str, str | None]


def attribute(
    live: Snapshot,
    *,
    at_database: Snapshot,
    steps: Sequence[tuple[str, Snapshot]],
    at_head: Snapshot | None,
    models: Snapshot | None,
    options: DiffOptions,
) -> tuple[list[Finding], tuple[str, ...]]:
    """Every finding with its attribution (drift first, then pending, then unmigrated), and
    notes on what was not compared."""
    drift, notes = compare_models(at_database, live, options, built="migrations replayed")
    if at_head is None:  # the pending migrations did not replay: drift alone is known
        return _as(drift, Attribution.DRIFT), notes
    scope = live.scope
    start, head = at_database.within(scope), at_head.within(scope)
    pending = diff(head, start, options)
    changed_by = _changed_by(start, [(rev, snap.within(scope)) for rev, snap in steps], options)
    unmigrated = diff(models.within(scope), head, options) if models is not None else []
    return [
        *_as(drift, Attribution.DRIFT),
        *(
            replace(f, attribution=Attribution.PENDING, revision=_revision_of(f, changed_by))
            for f in pending
        ),
        *_as(unmigrated, Attribution.UNMIGRATED),
    ], notes


def _as(findings: list[Finding], attribution: Attribution) -> list[Finding]:
    return [replace(f, attribution=attribution) for f in findings]


def _changed_by(
    start: Snapshot, steps: Sequence[tuple[str, Snapshot]], options: DiffOptions
) -> dict[ObjectKey, str]:
    """Which revision last changed each object, from the difference each step makes."""
    found: dict[ObjectKey, str] = {}
    before = start
    for revision, after in steps:
        for finding in diff(after, before, options):
            found[_key(finding)] = revision
            found[(finding.schema, finding.table, None)] = revision
        before = after
    return found


def _key(finding: Finding) -> ObjectKey:
    return (finding.schema, finding.table, finding.name)


def _revision_of(finding: Finding, changed_by: dict[ObjectKey, str]) -> str | None:
    return changed_by.get(_key(finding)) or changed_by.get((finding.schema, finding.table, None))
