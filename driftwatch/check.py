"""Check one target end to end. Drift is reported, never raised."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from driftwatch.bounds import clip, listing
from driftwatch.compare.attribute import attribute
from driftwatch.compare.autogenerate import findings_from_diffs
from driftwatch.compare.baseline import Baseline, regenerate
from driftwatch.compare.diff import DiffOptions
from driftwatch.compare.filters import env_include
from driftwatch.compare.fix import with_drift_fixes, with_fixes
from driftwatch.compare.models import compare_models, expected_state
from driftwatch.config.targets import Target
from driftwatch.errors import DriftwatchError
from driftwatch.expected.prebuilt import Prebuilt, PrebuiltDirs
from driftwatch.expected.scratch import ScratchUnavailableError
from driftwatch.expected.snapshot_file import SnapshotFile
from driftwatch.expected.sources import (
    Expected,
    describe_raised,
    load_expected,
    load_filters,
    load_scripts,
    project_frame,
)
from driftwatch.expected.states import (
    ExpectedStates,
    ModelsState,
    RevisionStates,
    default_states,
    replay_plan,
)
from driftwatch.live.errors import scrub
from driftwatch.live.observe import (
    Observation,
    make_engine,
    missing_tables,
    observe,
    probe_missing_tables,
)
from driftwatch.report import (
    DEFAULT_FAIL_ON,
    Category,
    CheckKind,
    Report,
    SchemaResult,
    TargetReport,
)
from driftwatch.revisions import RevisionState, RevisionStateKind, revision_state
from driftwatch.snapshot import Snapshot
from driftwatch.stagger import full_comparison_due

log = logging.getLogger(__name__)
T = TypeVar("T")

SNAPSHOT_FILE_METHOD = "snapshot_file"  # `SchemaResult.method` of `check --against-snapshot`


def _reusable(
    previous: TargetReport | None, max_age_seconds: float | None, now: datetime
) -> TargetReport | None:
    """The previous report, if its schema comparison may stand in for a new one (its
    comparison is not yet due again: `stagger`)."""
    if previous is None or max_age_seconds is None or not previous.succeeded:
        return None
    schema = previous.schema
    if schema is None or not schema.compared or schema.compared_at is None:
        return None
    if full_comparison_due(previous.target, schema.compared_at, now, max_age_seconds):
        return None
    return previous


async def check_target(
    target: Target,
    *,
    expected: Expected | None = None,
    previous: TargetReport | None = None,
    max_age_seconds: float | None = None,
    engine: AsyncEngine | None = None,
    states: ExpectedStates | None = None,
    against: SnapshotFile | None = None,
    prebuilt_dirs: PrebuiltDirs | None = None,
) -> TargetReport:
    """Check `target`; never raises for drift or for a database that cannot be reached.

    A target with `expected_dir` is checked from its prebuilt states alone (read through
    `prebuilt_dirs`, which a long-running caller keeps: it re-reads a folder that changed):
    neither its scripts nor its models are loaded, and no scratch database is used.

    With `against`, the live schema is compared with that saved snapshot instead of the
    models (which are then not even imported); the revision is checked as always.

    With `previous` and `max_age_seconds`, the full schema comparison is skipped when the
    applied revisions and the schema fingerprint are what `previous` saw and its comparison
    is not yet due again (at most `max_age_seconds` old, staggered across targets: see
    `stagger`; the daemon's cheap steady state). The fingerprint is
    read only when `max_age_seconds` is given: a report meant to be a later `previous` must
    come from such a check. A long-running
    caller passes the target's `engine` (from `live.observe.make_engine`) to keep it between
    checks; it pools nothing, so only the dialect set-up is saved, never a connection. It
    passes its `states` too (expected states built or read once, see `expected.states`);
    without them the check makes its own and stops any scratch server it started.
    """
    started_at = datetime.now(UTC)
    clock = time.perf_counter()

    def report(**fields: Any) -> TargetReport:
        return _report(target, started_at, time.perf_counter() - clock, **fields)

    reusable: TargetReport | None = None  # read inside the net below: it may fail too
    migrating_since = previous.migrating_since if previous is not None else None
    overdue = _migration_overdue(target, migrating_since, started_at)

    prebuilt: Prebuilt | None = None

    def decide(heads: tuple[str, ...] | None, fingerprint: str | None) -> bool:
        if reusable is None or reusable.fingerprint is None:
            return True
        previous_heads = reusable.revision.database_heads if reusable.revision else None
        return heads != previous_heads or _of_build(fingerprint, prebuilt) != reusable.fingerprint

    own_states = states is None
    states = states or default_states()
    try:
        reusable = _reusable(previous, max_age_seconds, started_at)
        prebuilt = await _prebuilt(target, against, prebuilt_dirs)
        expected = await _expected(target, expected, against, prebuilt)
        if against is None and prebuilt is None:
            seen, models = await _observe(
                target,
                expected,
                states,
                engine=engine,
                decide=decide,
                max_age_seconds=max_age_seconds,
                wait_out_migration=overdue is None,
            )
        else:
            models, scope = await _saved_states(against, prebuilt)
            seen = await _observe_against(
                target, expected, scope, engine=engine, decide=decide,
                max_age_seconds=max_age_seconds, wait_out_migration=overdue is None,
            )  # fmt: skip
        # translating what was seen runs the models' own SQL constructs: inside the net too
        revision = revision_state(expected.scripts, seen.database_heads, migrating=seen.migrating)
        if seen.migrating:
            schema = _while_migrating(previous, target)
        elif against is None:
            replayed = await _revision_states(
                target, expected, seen, revision, states, prebuilt=prebuilt
            )
            schema = _schema_result(
                seen,
                expected=expected,
                models=models,
                replayed=replayed,
                target=target,
                reusable=reusable,
                now=started_at,
            )
            note = expected.models_note  # a comparison reused from before may have it
            if note is not None and schema.compared and note not in schema.notes:
                schema = replace(schema, notes=(note, *schema.notes))
        else:
            schema = _saved_snapshot_result(seen, against, target=target, now=started_at)
        schema = _noting_source(schema, prebuilt, seen)
        compared_anyway = seen.migration_seen and not seen.migrating
        schema = _noting_overdue(schema, overdue if compared_anyway else None)
    except DriftwatchError as exc:
        return report(error=str(exc))
    except BaseException as exc:  # a bug, or the project's code (a custom type)
        # exiting, must not take the other targets or the daemon down
        if _must_propagate(exc):
            raise
        log.debug("internal error checking %s", target.name, exc_info=True)
        if project_frame(exc) is not None:  # e.g. a custom type of the models, compared
            detail = clip(scrub(describe_raised(exc), target))
            return report(error=f"target {target.name!r}: the project's code failed: {detail}")
        detail = clip(scrub(f"{type(exc).__name__}: {exc}", target))  # scrubbed whole, then cut
        return report(error=f"target {target.name!r}: internal error: {detail}")
    finally:
        if own_states:
            await states.close()

    carried = seen.migrating and schema.compared
    return report(
        check_kind=CheckKind.FULL
        if (seen.diffs is not None or reusable is None) and not carried
        else CheckKind.PROBE,
        revision=revision,
        schema=schema,
        fingerprint=_of_build(seen.fingerprint, prebuilt),
        migrating_since=(migrating_since or started_at) if seen.migration_seen else None,
    )


async def _prebuilt(
    target: Target, against: SnapshotFile | None, dirs: PrebuiltDirs | None
) -> Prebuilt | None:
    """The target's prebuilt states, where it has them and no snapshot file replaces them."""
    if target.expected_dir is None or against is not None:
        return None
    return await asyncio.to_thread((dirs or PrebuiltDirs()).current, target)


async def _expected(
    target: Target, given: Expected | None, against: SnapshotFile | None, prebuilt: Prebuilt | None
) -> Expected:
    """What the check expects: the prebuilt graph, else the caller's, else loaded now (the
    scripts alone against a snapshot file)."""
    if prebuilt is not None:  # the env.py filters still apply, where the target names them
        filters = await asyncio.to_thread(load_filters, target)
        return Expected(scripts=prebuilt.manifest.graph, metadata=None, filters=filters)
    if given is not None:
        return given
    return await asyncio.to_thread(load_expected if against is None else _scripts_only, target)


async def _saved_states(
    against: SnapshotFile | None, prebuilt: Prebuilt | None
) -> tuple[ModelsState, Snapshot]:
    """The models' state a check against saved states compares with, and the snapshot
    whose scope it reads: a snapshot file's, or prebuilt states' (read from their files)."""
    if prebuilt is not None:
        models = await asyncio.to_thread(prebuilt.models)
        return ModelsState(snapshot=models), await asyncio.to_thread(prebuilt.scope_state)
    assert against is not None
    return ModelsState(snapshot=against.snapshot), against.snapshot


def _noting_source(
    schema: SchemaResult, prebuilt: Prebuilt | None, seen: Observation
) -> SchemaResult:
    """A comparison made now with prebuilt states says which build they came from."""
    if prebuilt is None or seen.snapshot is None:
        return schema
    return replace(schema, notes=(prebuilt.describe(), *schema.notes))


def _of_build(fingerprint: str | None, prebuilt: Prebuilt | None) -> str | None:
    """The live fingerprint, and the prebuilt build it was compared with: a comparison
    stands for a later check only while both are the same."""
    if fingerprint is None or prebuilt is None:
        return fingerprint
    return f"{fingerprint}@{prebuilt.build_id}"


async def _observe(
    target: Target,
    expected: Expected,
    states: ExpectedStates,
    *,
    engine: AsyncEngine | None,
    decide: Callable[[tuple[str, ...] | None, str | None], bool],
    max_age_seconds: float | None,
    wait_out_migration: bool,
) -> tuple[Observation, ModelsState]:
    """One visit to the database, and the models' state it is compared with.

    With a scratch database the models' state is a snapshot for sure: it is read from its
    cache (or built) while the database answers, and the live snapshot is read without
    waiting for it; the connection is closed before a build is waited for.
    """
    early = _snapshot_for_sure(target, expected, states)
    loading = asyncio.ensure_future(_held(_models_state(target, expected, states)))
    own_engine = engine is None
    engine = engine or make_engine(target)
    try:
        if not early:
            models = _unheld(await loading)
        # a fingerprint serves only to compare the next check with this one; models
        # rebuilt since they were imported name the schemas watched instead of the MetaData
        rebuilt = expected.rebuilt_models
        seen = await observe(
            engine,
            target,
            expected.metadata if rebuilt is None else None,
            decide,
            fingerprint=max_age_seconds is not None,
            expected_tables=None if early else _tables_of(models),
            expected_schemas=() if rebuilt is None else rebuilt.scope.schemas,
            snapshot=early,
            filters=expected.filters,
            wait_out_migration=wait_out_migration,
        )
        if early:
            models = _unheld(await loading)
            await _probe_missing(engine, target, seen, models)
    finally:
        if not loading.done():
            loading.cancel()
        elif not loading.cancelled():
            loading.exception()  # retrieved: the database's error is the one reported
        if own_engine:
            await engine.dispose()
    return seen, models


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


async def _held(work: Coroutine[Any, Any, T]) -> T | _Raised:
    """`work`'s result, or what it raised held as a value. A task must not let SystemExit
    (the project's models or types exiting) out: asyncio would stop the whole event loop
    with it, instead of failing the one check."""
    try:
        return await work
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # see the docstring; `_unheld` raises it in the check
        return _Raised(exc)


def _unheld(value: T | _Raised) -> T:
    if isinstance(value, _Raised):
        raise value.error
    return value


async def _observe_against(
    target: Target,
    expected: Expected,
    against: Snapshot,
    *,
    engine: AsyncEngine | None,
    decide: Callable[[tuple[str, ...] | None, str | None], bool],
    max_age_seconds: float | None,
    wait_out_migration: bool,
) -> Observation:
    """One visit to the database, its snapshot read in a saved or prebuilt snapshot's
    scope."""
    own_engine = engine is None
    engine = engine or make_engine(target)
    try:
        return await observe(
            engine,
            target,
            expected.metadata,
            decide,
            fingerprint=max_age_seconds is not None,
            expected_tables=frozenset(table.key for table in against.tables),
            expected_schemas=against.scope.schemas,
            wait_out_migration=wait_out_migration,
        )
    finally:
        if own_engine:
            await engine.dispose()


def _must_propagate(exc: BaseException) -> bool:
    """Signals to the program rather than failures of one check: Ctrl-C, the coroutine being
    closed, and the cancellation of this very task (the daemon stopping, `check` interrupted).

    A CancelledError while the task is not being cancelled was raised by someone's code, not
    delivered by asyncio: it fails the check like any other error.
    """
    if isinstance(exc, KeyboardInterrupt | GeneratorExit):
        return True
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is None or task.cancelling() > 0
    return False


async def _models_state(target: Target, expected: Expected, states: ExpectedStates) -> ModelsState:
    """The models' snapshot the comparison needs, or why the alembic path runs instead."""
    if expected.rebuilt_models is not None:
        return ModelsState(snapshot=expected.rebuilt_models)
    if expected.metadata is None:
        return ModelsState(snapshot=None, unavailable="no models configured (metadata)")
    if target.compare.comparison == "alembic":
        return ModelsState(snapshot=None, unavailable='comparison = "alembic"')
    state = await states.models(expected.metadata, target.dialect, target.scratch_url)
    if state.snapshot is None and target.compare.comparison == "snapshot":
        raise ScratchUnavailableError(
            f'comparison = "snapshot": {state.unavailable}', target=target.name
        )
    return state


# where a replay says what the database's revision holds: a revision the scripts know
_REPLAYABLE = frozenset(
    {
        RevisionStateKind.AT_HEAD,
        RevisionStateKind.BEHIND,
        RevisionStateKind.PARTIALLY_APPLIED,
        RevisionStateKind.MULTIPLE_SCRIPT_HEADS,
    }
)


async def _revision_states(
    target: Target,
    expected: Expected,
    seen: Observation,
    revision: RevisionState,
    states: ExpectedStates,
    *,
    prebuilt: Prebuilt | None,
) -> RevisionStates | None:
    """What the migrations produce at the database's revision and at the heads, when the
    live snapshot was read (replayed, or prebuilt); a state with `unavailable` says why
    there is none."""
    plan = replay_plan(target, expected)
    if seen.snapshot is None or (plan is None and prebuilt is None):
        return None
    heads = seen.database_heads
    if heads is None or revision.kind not in _REPLAYABLE:
        # the version table is the database's data: its rows are listed within bounds
        unknown = listing(revision.unknown) or "none"
        why = f"the database's revision ({unknown}) is not in the scripts"
        return RevisionStates(unavailable=why)
    pending = [p.revision for p in revision.pending]
    if prebuilt is not None:
        return await asyncio.to_thread(prebuilt.revision_states, heads, pending)
    assert plan is not None
    return await states.revisions(plan, heads, pending)


def _scripts_only(target: Target) -> Expected:
    scripts, files, directory = load_scripts(target)
    return Expected(scripts=scripts, metadata=None, script_files=files, directory=directory)


def _snapshot_for_sure(target: Target, expected: Expected, states: ExpectedStates) -> bool:
    """Whether `_models_state` will give a snapshot (or fail): a scratch database is had."""
    return expected.rebuilt_models is not None or (
        expected.metadata is not None
        and target.compare.comparison != "alembic"
        and states.scratch.available(target.dialect, target.scratch_url) is None
    )


async def _probe_missing(
    engine: AsyncEngine, target: Target, seen: Observation, models: ModelsState
) -> None:
    """The expected tables a live snapshot read early lacks: may the user see them?"""
    tables = _tables_of(models)
    if seen.snapshot is not None and tables is not None:
        missing = missing_tables(seen.snapshot, tables)
        if missing:
            await probe_missing_tables(engine, target, missing)


def _tables_of(models: ModelsState) -> frozenset[tuple[str | None, str]] | None:
    if models.snapshot is None:
        return None
    return frozenset(table.key for table in models.snapshot.tables)


def _schema_result(
    seen: Observation,
    *,
    expected: Expected,
    models: ModelsState,
    replayed: RevisionStates | None,
    target: Target,
    reusable: TargetReport | None,
    now: datetime,
) -> SchemaResult:
    baseline = target.baseline
    if expected.metadata is None and replayed is None and models.snapshot is None:
        return SchemaResult(compared=False, skipped_reason="no models configured (metadata)")
    options = _diff_options(target, expected, seen)
    if seen.snapshot is not None and replayed is not None and replayed.at_database is not None:
        findings, notes = attribute(
            seen.snapshot,
            at_database=replayed.at_database,
            steps=[(step.revision, step.snapshot) for step in replayed.steps],
            at_head=replayed.at_head,
            models=models.snapshot,
            options=options,
        )
        if replayed.at_head is None:
            notes = (f"{replayed.unavailable}: pending and unmigrated not compared", *notes)
        # a drift finding's fix restores what the database's own revision produces
        restored, _ = expected_state(replayed.at_database, seen.snapshot)
        findings = with_drift_fixes(findings, restored, seen.snapshot)
        return SchemaResult(
            compared=True,
            findings=tuple(findings),
            compared_at=now,
            method="replay",
            notes=notes,
        ).under(baseline)
    if seen.snapshot is not None and models.snapshot is not None:
        findings, notes = compare_models(models.snapshot, seen.snapshot, options)
        if replayed is not None and replayed.unavailable is not None:
            notes = (f"no replay ({replayed.unavailable}): differences not attributed", *notes)
        restored, _ = expected_state(models.snapshot, seen.snapshot)
        findings = with_fixes(findings, restored, seen.snapshot)
        return SchemaResult(
            compared=True,
            findings=tuple(findings),
            compared_at=now,
            method="snapshot",
            notes=notes,
        ).under(baseline)
    if seen.diffs is None:
        if reusable is not None and reusable.schema is not None:
            return reusable.schema.under(baseline)  # the baseline may have changed meanwhile
        return SchemaResult(compared=False, skipped_reason="comparison not run")
    findings = findings_from_diffs(seen.diffs, seen.dialect, seen.default_schema)
    notes = ()
    if target.compare.comparison == "auto" and models.unavailable is not None:
        notes = (f"no scratch database ({models.unavailable}): compared through alembic",)
    return SchemaResult(
        compared=True, findings=tuple(findings), compared_at=now, method="alembic", notes=notes
    ).under(baseline)


def _diff_options(target: Target, expected: Expected, seen: Observation) -> DiffOptions:
    """The target's comparison options, asking the project's env.py filters if it names any."""
    include = env_include(
        expected.filters, models=expected.metadata, default_schema=seen.default_schema
    )
    return replace(target.compare.diff_options, include=include)


MIGRATING_NOTE = "a migration is running: no new verdict until the check after it"


OVERDUE_NOTE = "a migration has been seen running for"


def _migration_overdue(target: Target, since: datetime | None, now: datetime) -> float | None:
    """How long (seconds) checks have seen a migration running, since `since` (the first
    that did), when that is at least the target's `check_timeout_seconds`: the migration is
    then waited out no longer (the check compares and concludes), so that one left idle in
    its transaction, or a session that merely looks like one (see
    `live.probe.PG_MIGRATING`), cannot freeze the target's verdict for good. None while it
    may still be waited out, or when none was seen."""
    if since is None:
        return None
    seconds = (now - since).total_seconds()
    return seconds if seconds >= target.timeouts.check_timeout_seconds else None


def _noting_overdue(schema: SchemaResult, overdue: float | None) -> SchemaResult:
    """`schema` saying, when a migration has been seen for too long to be waited out, for
    how long (a comparison reused from before has the note of its own time: replaced)."""
    notes = tuple(n for n in schema.notes if not n.startswith(OVERDUE_NOTE))
    if overdue is not None:
        minutes = int(overdue // 60)
        took = f"{minutes} minutes" if minutes >= 2 else f"{int(overdue)} seconds"
        notes = (
            f"{OVERDUE_NOTE} {took}, longer than check_timeout_seconds: compared anyway",
            *notes,
        )
    return schema if notes == schema.notes else replace(schema, notes=notes)


def _while_migrating(previous: TargetReport | None, target: Target) -> SchemaResult:
    """The schema result of a check that saw a migration running: nothing was compared, and
    the last comparison stands where there is one (the daemon's), so that a migration
    neither raises nor clears what is known of the schema; the check after it decides."""
    schema = previous.schema if previous is not None and previous.succeeded else None
    if schema is None or not schema.compared:
        return SchemaResult(compared=False, skipped_reason=MIGRATING_NOTE)
    notes = schema.notes if MIGRATING_NOTE in schema.notes else (MIGRATING_NOTE, *schema.notes)
    return replace(schema, notes=notes).under(target.baseline)


def _saved_snapshot_result(
    seen: Observation, against: SnapshotFile, *, target: Target, now: datetime
) -> SchemaResult:
    """The live schema against a saved snapshot, as against the models' (the same diff)."""
    if seen.snapshot is None:
        return SchemaResult(compared=False, skipped_reason="comparison not run")
    options = target.compare.diff_options
    findings, notes = compare_models(against.snapshot, seen.snapshot, options)
    return SchemaResult(
        compared=True,
        findings=tuple(findings),
        compared_at=now,
        method=SNAPSHOT_FILE_METHOD,
        notes=(against.describe(), *notes),
    ).under(target.baseline)


def _report(target: Target, started_at: datetime, duration: float, **fields: Any) -> TargetReport:
    return TargetReport(
        target=target.name,
        url=target.safe_url,
        dialect=target.dialect,
        labels=target.labels,
        started_at=started_at,
        duration_seconds=duration,
        **fields,
    )


def failed_report(target: Target, message: str, *, started_at: datetime) -> TargetReport:
    """A report for a check that could not even start (for example, unreadable scripts)."""
    duration = (datetime.now(UTC) - started_at).total_seconds()
    return _report(target, started_at, duration, error=message)


def accept_all(
    report: TargetReport, existing: Baseline | None, *, reason: str
) -> tuple[Baseline, TargetReport]:
    """A baseline accepting every schema difference `report` found (see
    `baseline.regenerate`), and the report judged by it. Raises DriftwatchError when the
    target could not be checked or its schema was not compared: there is nothing to accept."""
    problem = report.problem()
    if problem is not None:
        raise DriftwatchError(f"no baseline written: {problem}")
    schema = report.schema
    if schema is None or not schema.compared:
        why = schema.skipped_reason if schema is not None else "no schema result"
        raise DriftwatchError(
            f"no baseline written: target {report.target!r}: schema not compared ({why})"
        )
    # a MySQL schema is the database's name: staging's baseline must fit production too
    baseline = regenerate(
        schema.all_findings(), existing, reason=reason, schema=report.dialect != "mysql"
    )
    return baseline, replace(report, schema=schema.under(baseline))


async def check_targets(
    targets: Iterable[Target],
    *,
    concurrency: int = 4,
    fail_on: frozenset[Category] = DEFAULT_FAIL_ON,
    cache_dir: Path | None = None,
    against: SnapshotFile | None = None,
) -> Report:
    """Check several targets concurrently (at most `concurrency` at once); `against`: see
    `check_target` (a snapshot file is one database's: give it one target)."""
    gate = asyncio.Semaphore(concurrency)

    states = default_states(cache_dir)
    prebuilt = PrebuiltDirs()

    async def one(target: Target) -> TargetReport:
        async with gate:
            return await check_target(
                target, states=states, against=against, prebuilt_dirs=prebuilt
            )

    try:
        reports = await asyncio.gather(*(one(t) for t in targets))
    finally:
        await states.close()
    return Report(targets=tuple(reports), generated_at=datetime.now(UTC), fail_on=fail_on)
