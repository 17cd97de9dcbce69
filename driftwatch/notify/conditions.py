"""Conditions: what is wrong with a target now, and what changed. Pure.

One vocabulary, `Condition`, names what can be wrong with a target: the notifiers' `events`
settings, webhook bodies, the state file and the daemon's log lines all use it. One
computation, `changes`, says what started, changed or ended between two states, for the log
lines (`target_changes`, one line per change of a target) and for the notifications alike.

A target's *conditions* are derived from its state after every check; what each notifier
is told of them, and when, is `memory`'s to say. Each condition's alert name, severity,
labels and confirmation window are `RULES`'; the Prometheus rules are generated from the
same table (`driftwatch rules`), so a page reads, waits and deduplicates the same whichever
path raised it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from driftwatch.findings import Attribution
from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionStateKind


class Condition(StrEnum):
    """A public vocabulary: notifier `events` settings, webhook bodies and log lines."""

    DRIFT = "drift"
    PENDING = "pending"
    UNMIGRATED = "unmigrated"
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
    """The Prometheus alert a condition corresponds to, and how long the condition must hold
    before either path announces it (its confirmation window, by default)."""

    alertname: str
    severity: str
    summary: str
    runbook_url: str
    window_seconds: float  # the default; `alert_windows` settings override it
    attribution: str | None = None  # the alert's `attribution` label, where one applies

    @property
    def labels(self) -> dict[str, str]:
        """The labels the alert carries besides `alertname` and the target's."""
        found = {"severity": self.severity}
        if self.attribution is not None:
            found["attribution"] = self.attribution
        return found


RUNBOOK = "https://github.com/driftwatch/driftwatch/blob/main/docs/runbook.md"
MINUTE, HOUR = 60, 3600


def _rule(
    alertname: str,
    summary: str,
    window_seconds: float,
    *,
    severity: str = "warning",
    attribution: str | None = None,
) -> AlertRule:
    return AlertRule(
        alertname=alertname,
        severity=severity,
        summary=summary,
        runbook_url=f"{RUNBOOK}#{alertname.lower()}",
        window_seconds=window_seconds,
        attribution=attribution,
    )


# The one table of alerts: the notifier (webhooks) and the generated Prometheus rules
# (`driftwatch.notify.rules`) both read it, so a condition is named, graded, labelled and
# confirmed alike on both paths.
RULES: Mapping[Condition, AlertRule] = {
    Condition.DRIFT: _rule(
        "DriftwatchSchemaDrift",
        "The live schema differs from the models.",
        5 * MINUTE,
        attribution="drift",
    ),
    Condition.PENDING: _rule(
        "DriftwatchMigrationsPending",
        "Database migrations are pending.",
        30 * MINUTE,
        attribution="pending",
    ),
    Condition.UNMIGRATED: _rule(
        "DriftwatchModelsUnmigrated",
        "The models hold schema changes no migration makes.",
        HOUR,
        severity="info",
        attribution="unmigrated",
    ),
    # a rolling deploy stamps the new revision while old pods still run the old scripts
    Condition.UNKNOWN_REVISION: _rule(
        "DriftwatchRevisionUnknown",
        "The database is on a revision the migration scripts do not know.",
        30 * MINUTE,
    ),
    Condition.MULTIPLE_SCRIPT_HEADS: _rule(
        "DriftwatchMultipleScriptHeads", "The migration scripts have unmerged heads.", 15 * MINUTE
    ),
    Condition.CHECK_FAILING: _rule(
        "DriftwatchCheckFailing", "driftwatch cannot check a database.", 15 * MINUTE
    ),
}
DEFAULT_WINDOWS: Mapping[Condition, float] = {c: r.window_seconds for c, r in RULES.items()}


def windows(overrides: Mapping[Condition, float]) -> dict[Condition, float]:
    """Every condition's confirmation window in seconds: the defaults, less `overrides`."""
    return {**DEFAULT_WINDOWS, **overrides}


def settled(state: TargetState) -> bool:
    """Whether `state` says what its revision and schema conditions are: a check succeeded,
    and the last that did saw no migration running."""
    return state.last_good is not None and not state.last_good.migrating


def judged(good: TargetReport | None) -> dict[Condition, TargetReport]:
    """The revision and schema conditions a successful check shows (see present_conditions);
    the log lines judge by the same rules."""
    found: dict[Condition, TargetReport] = {}
    if good is None or good.revision is None:
        return found
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
    if schema is not None and any(f.attribution is Attribution.UNMIGRATED for f in schema.findings):
        found[Condition.UNMIGRATED] = good
    return found


def present_conditions(state: TargetState) -> dict[Condition, TargetReport]:
    """The conditions present in `state`, each with the report that shows it.

    Revision and schema conditions come from the last successful check, as the metrics do,
    so a failing check neither raises nor clears them; it is a condition of its own. Nor
    does a check that saw a migration running (not `settled`): the check after it decides.
    Drift counts only at the migration head, like the DriftwatchSchemaDrift rule: a database
    behind its scripts differs from the models as a matter of course. Unmigrated findings
    (models no migration produces) count at any revision, like DriftwatchModelsUnmigrated.
    """
    found = judged(state.last_good) if settled(state) else {}
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
        """The log line's `event` value (docs/metrics.md lists them)."""
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
    """What the log lines compare: whether the latest check failed, the revision state (kind
    and pending count) of the last good check, and the findings that show drift, judged as
    the notifications judge it (`judged`): a database behind its scripts logs its revision
    moving, not its pending migrations' differences as drift."""
    found: dict[Condition | None, Hashable] = {}
    if state.latest is not None and not state.latest.succeeded:
        found[Condition.CHECK_FAILING] = True
    good = state.last_good
    if good is not None and good.revision is not None:
        found[_REVISION] = (good.revision.kind, len(good.revision.pending))
    if Condition.DRIFT in judged(good) and good is not None and good.schema is not None:
        found[Condition.DRIFT] = frozenset(
            (f.kind.value, f.schema, f.table, f.name) for f in good.schema.drift
        )
    return found


def target_changes(before: TargetState, after: TargetState) -> list[Change]:
    """The changes between two states of one target, in a stable order: the check, the
    revision, the drift.

    Revision and drift are judged on what is known (the last good reports), so a failing
    check does not look like drift going away; failure and recovery are changes of their
    own, and drift ends only with a check that compared the schema, and that saw no
    migration running (the check after it decides, as for the notifications).
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
    if drift is not None and settled(after) and (drift is not Move.ENDED or compared):
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
