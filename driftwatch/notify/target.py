"""What the daemon knows about each target, and how one check changes it. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from driftwatch.report import CheckKind, TargetReport
from driftwatch.revisions import RevisionStateKind


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetState:
    """Immutable; the daemon swaps in `state.after(report)` after every check."""

    name: str
    dialect: str
    labels: Mapping[str, str] = field(default_factory=dict)
    latest: TargetReport | None = None  # the latest check, successful or not
    last_good: TargetReport | None = None  # the latest successful check: what is known
    checks: int = 0
    errors: int = 0
    full_checks: int = 0

    @property
    def checked(self) -> bool:
        return self.latest is not None

    def after(self, report: TargetReport) -> TargetState:
        full = report.succeeded and report.check_kind is CheckKind.FULL
        return replace(
            self,
            latest=report,
            last_good=report if report.succeeded else self.last_good,
            checks=self.checks + 1,
            errors=self.errors + (0 if report.succeeded else 1),
            full_checks=self.full_checks + (1 if full else 0),
        )


class Event(StrEnum):
    """A change of a target's condition worth one log line (and one notification)."""

    IN_SYNC = "in_sync"  # revision back at head
    BEHIND = "behind"
    UNKNOWN_REVISION = "unknown_revision"
    NO_VERSION_TABLE = "no_version_table"
    MULTIPLE_SCRIPT_HEADS = "multiple_script_heads"
    PARTIALLY_APPLIED = "partially_applied"
    DRIFT_APPEARED = "drift_appeared"
    DRIFT_CHANGED = "drift_changed"
    DRIFT_GONE = "drift_gone"
    CHECK_FAILING = "check_failing"
    RECOVERED = "recovered"


REVISION_EVENTS: Mapping[RevisionStateKind, Event] = {
    RevisionStateKind.AT_HEAD: Event.IN_SYNC,
    RevisionStateKind.BEHIND: Event.BEHIND,
    RevisionStateKind.UNKNOWN_REVISION: Event.UNKNOWN_REVISION,
    RevisionStateKind.NO_VERSION_TABLE: Event.NO_VERSION_TABLE,
    RevisionStateKind.MULTIPLE_SCRIPT_HEADS: Event.MULTIPLE_SCRIPT_HEADS,
    RevisionStateKind.PARTIALLY_APPLIED: Event.PARTIALLY_APPLIED,
}


def _drift_keys(report: TargetReport | None) -> frozenset[tuple[str, str | None, str, str | None]]:
    if report is None or report.schema is None:
        return frozenset()
    return frozenset((f.kind.value, f.schema, f.table, f.name) for f in report.schema.findings)


def events(before: TargetState, after: TargetState) -> list[Event]:
    """The condition changes between two states of one target, in a stable order.

    Compared on what is known (the last good reports), so a failing check does not look
    like drift going away; failure and recovery are events of their own.
    """
    found: list[Event] = []
    was_failing = before.latest is not None and not before.latest.succeeded
    is_failing = after.latest is not None and not after.latest.succeeded
    if is_failing and not was_failing:
        found.append(Event.CHECK_FAILING)
    if was_failing and not is_failing:
        found.append(Event.RECOVERED)

    old, new = before.last_good, after.last_good
    if new is None or new is old:
        return found
    old_kind = old.revision.kind if old and old.revision else None
    new_kind = new.revision.kind if new.revision else None
    old_pending = len(old.revision.pending) if old and old.revision else None
    new_pending = len(new.revision.pending) if new.revision else None
    if new_kind is not None and (new_kind != old_kind or new_pending != old_pending):
        found.append(REVISION_EVENTS[new_kind])

    old_drift, new_drift = _drift_keys(old), _drift_keys(new)
    if new_drift and not old_drift:
        found.append(Event.DRIFT_APPEARED)
    elif old_drift and not new_drift and new.schema is not None and new.schema.compared:
        found.append(Event.DRIFT_GONE)
    elif old_drift and new_drift and old_drift != new_drift:
        found.append(Event.DRIFT_CHANGED)
    return found
