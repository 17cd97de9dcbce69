"""Notification conditions: what is wrong with a target now, and what changed. Pure.

A target's *conditions* are derived from its state after every check. A notifier is told
about a condition once it has been present for the notifier's threshold (*firing*), and
once more when it is gone (*resolved*): one message per transition, never one per check.
The names, severities and runbook links are those of deploy/prometheus/driftwatch.rules.yml,
so a page reads the same whichever path raised it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from driftwatch.notify.target import TargetState
from driftwatch.report import TargetReport
from driftwatch.revisions import RevisionStateKind


class Condition(StrEnum):
    """A public vocabulary: notifier `events` filters and webhook bodies use these values."""

    DRIFT = "drift"
    PENDING = "pending"
    UNKNOWN_REVISION = "unknown_revision"
    MULTIPLE_SCRIPT_HEADS = "multiple_script_heads"
    CHECK_FAILING = "check_failing"


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


def present_conditions(state: TargetState) -> dict[Condition, TargetReport]:
    """The conditions present in `state`, each with the report that shows it.

    Revision and schema conditions come from the last successful check, as the metrics do,
    so a failing check neither raises nor clears them; it is a condition of its own.
    Drift counts only at the migration head, like the DriftwatchSchemaDrift rule: a database
    behind its scripts differs from the models as a matter of course.
    """
    found: dict[Condition, TargetReport] = {}
    good = state.last_good
    if good is not None and good.revision is not None:
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
    neither raises nor clears them.
    """
    tracked = {c: since.get(c, report.started_at) for c, report in present.items()}
    if not known:
        kept: dict[Condition, datetime] = {
            c: s for c, s in since.items() if c is not Condition.CHECK_FAILING
        }
        tracked = {**kept, **tracked}
    return tracked


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What one notifier wants to hear about."""

    conditions: frozenset[Condition] = frozenset(Condition)
    targets: frozenset[str] = frozenset()  # empty: every target
    thresholds: Mapping[Condition, float] = field(default_factory=dict)  # seconds present first

    def wants(self, target: str) -> bool:
        return not self.targets or target in self.targets

    def covers(self, target: str, condition: Condition) -> bool:
        return self.wants(target) and condition in self.conditions


def due(
    since: Mapping[Condition, datetime], policy: Policy, now: datetime
) -> dict[Condition, datetime]:
    """The conditions that should be firing for a notifier at `now`, with their start."""
    return {
        condition: started
        for condition, started in since.items()
        if condition in policy.conditions
        and (now - started).total_seconds() >= policy.thresholds.get(condition, 0)
    }


def firing_now(
    since: Mapping[Condition, datetime],
    announced: Mapping[Condition, datetime],
    policy: Policy,
    now: datetime,
) -> dict[Condition, datetime]:
    """`due`, and what the receiver was already told and is still present: a threshold
    raised across a restart does not resolve a condition that has not ended."""
    firing = due(since, policy, now)
    held = {c: s for c, s in since.items() if c in announced and c in policy.conditions}
    return {**held, **firing}


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


def transitions(
    state: TargetState,
    announced: Mapping[Condition, datetime],
    firing: Mapping[Condition, datetime],
    now: datetime,
) -> list[Transition]:
    """What to tell a notifier that has `announced` these conditions, now that `firing` hold.

    Resolved messages come first, then firing ones, each in the order of `Condition`.
    """
    gone = [
        transition(state, c, firing=False, since=announced[c], now=now)
        for c in Condition
        if c in announced and c not in firing
    ]
    new = [
        transition(state, c, firing=True, since=firing[c], now=now)
        for c in Condition
        if c in firing and c not in announced
    ]
    return gone + new
