"""Conditions: what is wrong with a target now, and what changed. Pure.

One vocabulary, `Condition`, names what can be wrong with a target: the notifiers' `events`
settings, webhook bodies, the state file and the daemon's log lines all use it. One
computation, `changes`, says what started, changed or ended between two states, for the log
lines (`target_changes`, one line per change of a target) and for the notifications alike.

A target's *conditions* are derived from its state after every check; what each notifier
is told of them, and when, is `memory`'s to say. The names, severities and runbook links are
those of deploy/prometheus/driftwatch.rules.yml, so a page reads the same whichever path
raised it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionStateKind


class Condition(StrEnum):
    """A public vocabulary: notifier `events` settings, webhook bodies and log lines."""

    DRIFT = "drift"
    PENDING = "pending"
    UNKNOWN_REVISION = "unknown_revision"
    MULTIPLE_SCRIPT_HEADS = "multiple_script_heads"
    CHECK_FAILING = "check_failing"


class Move(StrEnum):
    """How a condition changed between two states of a target."""

    STARTED = "started"
    CHANGED = "changed"  # still present, shown by other evidence (other drift, say)
    ENDED = "ended"


K = TypeVar("K")


def changes(before: Mapping[K, Hashable], after: Mapping[K, Hashable]) -> dict[K, Move]:
    """What started (only in `after`), changed (another value) or ended (only in `before`)
    between two maps of evidence. Every log line and every notification is one of these."""
    moved = {key: Move.ENDED for key in before if key not in after}
    for key, value in after.items():
        if key not in before:
            moved[key] = Move.STARTED
        elif before[key] != value:
            moved[key] = Move.CHANGED
    return moved


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """The Prometheus alert a condition corresponds to."""

    alertname: str
    severity: str
    summary: str
    runbook_url: str


RUNBOOK = "https://github.com/driftwatch/driftwatch/blob/main/docs/runbook.md"


def _rule(alertname: str, summary: str) -> AlertRule:
    return AlertRule(
        alertname=alertname,
        severity="warning",
        summary=summary,
        runbook_url=f"{RUNBOOK}#{alertname.lower()}",
    )


RULES: Mapping[Condition, AlertRule] = {
    Condition.DRIFT: _rule("DriftwatchSchemaDrift", "The live schema differs from the models."),
    Condition.PENDING: _rule("DriftwatchMigrationsPending", "Database migrations are pending."),
    Condition.UNKNOWN_REVISION: _rule(
        "DriftwatchRevisionUnknown",
        "The database is on a revision the migration scripts do not know.",
    ),
    Condition.MULTIPLE_SCRIPT_HEADS: _rule(
        "DriftwatchMultipleScriptHeads", "The migration scripts have unmerged heads."
    ),
    Condition.CHECK_FAILING: _rule("DriftwatchCheckFailing", "driftwatch cannot check a database."),
}


def settled(state: TargetState) -> bool:
    """Whether `state` says what its revision and schema conditions are: a check succeeded,
    and the last that did saw no migration running."""
    return state.last_good is not None and not state.last_good.migrating


def present_conditions(state: TargetState) -> dict[Condition, TargetReport]:
    """The conditions present in `state`, each with the report that shows it.

    Revision and schema conditions come from the last successful check, as the metrics do,
    so a failing check neither raises nor clears them; it is a condition of its own. Nor
    does a check that saw a migration running (not `settled`): the check after it decides.
    Drift counts only at the migration head, like the DriftwatchSchemaDrift rule: a database
    behind its scripts differs from the models as a matter of course.
    """
    found: dict[Condition, TargetReport] = {}
    good = state.last_good
    if good is not None and good.revision is not None and settled(state):
        revision = good.revision
        if revision.pending:
            found[Condition.PENDING] = good
        if revision.kind is RevisionStateKind.UNKNOWN_REVISION:
            found[Condition.UNKNOWN_REVISION] = good
        if len(revision.script_heads) > 1:
            found[Condition.MULTIPLE_SCRIPT_HEADS] = good
        schema = good.schema
        # drift is known at any revision when the migrations were replayed; without a replay
        # a difference is judged only at head, where no pending migration can explain it
        attributed = schema is not None and schema.method == "replay"
        if (revision.in_sync or attributed) and schema is not None and schema.drift:
            found[Condition.DRIFT] = good
    latest = state.latest
    if latest is not None and not latest.succeeded:
        found[Condition.CHECK_FAILING] = latest
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One change of a target, worth one log line: a condition that started, changed or
    ended, or (`condition` None) the revision state that moved to `revision`."""

    condition: Condition | None
    move: Move
    revision: RevisionStateKind | None = None

    @property
    def word(self) -> str:
        """The log line's `event` value (the README lists them)."""
        if self.revision is not None:
            return "in_sync" if self.revision is RevisionStateKind.AT_HEAD else self.revision.value
        return _LOG_WORDS[(self.condition, self.move)]


_LOG_WORDS: Mapping[tuple[Condition | None, Move], str] = {
    (Condition.CHECK_FAILING, Move.STARTED): "check_failing",
    (Condition.CHECK_FAILING, Move.ENDED): "recovered",
    (Condition.DRIFT, Move.STARTED): "drift_appeared",
    (Condition.DRIFT, Move.CHANGED): "drift_changed",
    (Condition.DRIFT, Move.ENDED): "drift_gone",
}
_REVISION = None  # the key of the revision state among a log line's evidence


def _logged(state: TargetState) -> dict[Condition | None, Hashable]:
    """What the log lines compare: whether the latest check failed, and of the last good
    check the revision state (kind and pending count) and every finding (pending and
    unmigrated ones too: the log says what the check saw, the alerts what is judged drift)."""
    found: dict[Condition | None, Hashable] = {}
    if state.latest is not None and not state.latest.succeeded:
        found[Condition.CHECK_FAILING] = True
    good = state.last_good
    if good is not None and good.revision is not None:
        found[_REVISION] = (good.revision.kind, len(good.revision.pending))
    if good is not None and good.schema is not None and good.schema.findings:
        found[Condition.DRIFT] = frozenset(
            (f.kind.value, f.schema, f.table, f.name) for f in good.schema.findings
        )
    return found


def target_changes(before: TargetState, after: TargetState) -> list[Change]:
    """The changes between two states of one target, in a stable order: the check, the
    revision, the drift.

    Revision and drift are judged on what is known (the last good reports), so a failing
    check does not look like drift going away; failure and recovery are changes of their
    own, and drift ends only with a check that compared the schema.
    """
    known = after.last_good
    moved = changes(_logged(before), _logged(after))
    found: list[Change] = []
    if Condition.CHECK_FAILING in moved:
        found.append(Change(condition=Condition.CHECK_FAILING, move=moved[Condition.CHECK_FAILING]))
    revision = known.revision if known is not None else None
    if moved.get(_REVISION, Move.ENDED) is not Move.ENDED and revision is not None:
        found.append(Change(condition=None, move=moved[_REVISION], revision=revision.kind))
    drift = moved.get(Condition.DRIFT)
    compared = known is not None and known.schema is not None and known.schema.compared
    if drift is not None and (drift is not Move.ENDED or compared):
        found.append(Change(condition=Condition.DRIFT, move=drift))
    return found


def report_for(condition: Condition, state: TargetState) -> TargetReport | None:
    """The report a message about `condition` describes (present or gone)."""
    return state.latest if condition is Condition.CHECK_FAILING else state.last_good


def track_since(
    since: Mapping[Condition, datetime],
    present: Mapping[Condition, TargetReport],
    *,
    known: bool = True,
) -> dict[Condition, datetime]:
    """When each present condition was first seen: the start of the first report showing it.

    A condition that goes away and comes back starts again. `since` may come from before a
    restart (the state file); until a check of the new process succeeds (`known` false),
    its revision and schema conditions are kept as they were, since a failing check
    neither raises nor clears them; so too while a migration runs (see `settled`).
    """
    tracked = {c: since.get(c, report.started_at) for c, report in present.items()}
    if not known:
        kept: dict[Condition, datetime] = {
            c: s for c, s in since.items() if c is not Condition.CHECK_FAILING
        }
        tracked = {**kept, **tracked}
    return tracked


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One message's worth of change: a condition of a target started or stopped firing."""

    target: str
    labels: Mapping[str, str]
    condition: Condition
    firing: bool
    since: datetime  # when the condition was first seen
    at: datetime  # when the change was noticed: firing time, or the end on resolve
    report: TargetReport | None  # what the message describes

    @property
    def rule(self) -> AlertRule:
        return RULES[self.condition]

    @property
    def key(self) -> tuple[str, Condition]:
        return (self.target, self.condition)


def transition(
    state: TargetState, condition: Condition, *, firing: bool, since: datetime, now: datetime
) -> Transition:
    """The message-worth of `condition` of `state` starting (`firing`) or stopping at `now`."""
    return Transition(
        target=state.name,
        labels=state.labels,
        condition=condition,
        firing=firing,
        since=since,
        at=now,
        report=report_for(condition, state),
    )
