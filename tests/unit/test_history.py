"""Schema history on hand-built target states (no database): what each change of a target
enters in its log, the log's bounds, its words and its file document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.history.entries import (
    LISTED_PER_CHECK,
    MAX_AGE,
    MAX_ENTRIES,
    Entry,
    Event,
    HistoryError,
    TargetHistory,
    entry_line,
    history_from_json,
    history_json,
    record,
)
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind

T0 = datetime(2026, 12, 3, 14, 3, 7, tzinfo=UTC)


def revision(heads: tuple[str, ...] = ("a1",), head: str = "a1") -> RevisionState:
    behind = heads != (head,)
    return RevisionState(
        kind=RevisionStateKind.BEHIND if behind else RevisionStateKind.AT_HEAD,
        database_heads=heads,
        script_heads=(head,),
        pending=(PendingRevision(revision=head, message="next"),) if behind else (),
        unknown=(),
    )


def index(name: str = "ix_x", actual: str | None = "tasks(done)") -> Finding:
    return Finding(
        kind=FindingKind.EXTRA_INDEX,
        schema="main",
        table="tasks",
        name=name,
        expected=None,
        actual=actual,
        message="m",
        attribution=Attribution.DRIFT,
    )


def report(
    *findings: Finding,
    rev: RevisionState | None = None,
    error: str | None = None,
    compared: bool = True,
    at: datetime = T0,
) -> TargetReport:
    if error is not None:
        return TargetReport(
            target="t", url="u", dialect="sqlite", started_at=at, duration_seconds=0.1, error=error
        )
    return TargetReport(
        target="t",
        url="u",
        dialect="sqlite",
        started_at=at,
        duration_seconds=0.1,
        check_kind=CheckKind.FULL,
        revision=rev or revision(),
        schema=SchemaResult(compared=True, findings=findings, compared_at=at)
        if compared
        else SchemaResult(compared=False, skipped_reason="behind"),
    )


class Log:
    """One target's state and history, checked report by report."""

    def __init__(self) -> None:
        self.state = TargetState(name="t", dialect="sqlite")
        self.history = TargetHistory()

    def check(self, report: TargetReport) -> list[str]:
        """The lines this check enters."""
        self.state = self.state.after(report)
        before = self.history
        self.history = record(self.history, self.state, report.started_at)
        kept = {id(e) for e in before.entries}  # the same objects: the log is only cut
        return [e.text for e in self.history.entries if id(e) not in kept]


def test_the_first_check_enters_what_it_found_as_present_not_as_appeared() -> None:
    """What is there when the daemon first looks was not seen appearing: it says so."""
    log = Log()
    assert log.check(report(index())) == [
        "revision a1 at first check (at head)",
        "drift present at first check: extra_index ix_x on main.tasks",
    ]


def test_drift_appearing_changing_and_going_away_is_entered_with_its_time() -> None:
    """Each change of a finding is one entry, in the words on-call reads, stamped with the
    start of the check that saw it."""
    log = Log()
    log.check(report())
    later = T0 + timedelta(minutes=5)
    assert log.check(report(index(), at=later)) == [
        "drift appeared: extra_index ix_x on main.tasks"
    ]
    assert entry_line(log.history.entries[-1]) == (
        "2026-12-03 14:08:07Z  drift appeared: extra_index ix_x on main.tasks"
    )
    assert log.check(report(index(actual="tasks(done, at)"))) == [
        "drift changed: extra_index ix_x on main.tasks (database tasks(done) -> tasks(done, at))"
    ]
    assert log.check(report()) == ["drift gone: extra_index ix_x on main.tasks"]


def test_a_revision_move_is_one_entry_naming_both_revisions() -> None:
    """The database moving from a1 to b2 reads `revision a1 -> b2`, with its new state;
    new scripts that leave it behind say the state moved, and to which head."""
    log = Log()
    log.check(report(rev=revision(("a1",), "a1")))
    assert log.check(report(rev=revision(("a1",), "b2"))) == [
        "revision a1: at head -> behind, 1 pending (script head b2)"
    ]
    assert log.check(report(rev=revision(("b2",), "b2"))) == ["revision a1 -> b2 (at head)"]


def test_a_failing_check_is_an_entry_and_clears_nothing() -> None:
    """A check that fails enters `check failing` once (a new wording of its error is no
    change) and `check recovered` when it ends; the drift known before is neither gone
    while it fails nor appears again after."""
    log = Log()
    log.check(report(index()))
    assert log.check(report(error="connection refused")) == ["check failing: connection refused"]
    unchanged = log.history
    assert log.check(report(error="connection refused (again)")) == []
    assert log.history is unchanged  # nothing to save either
    assert log.check(report(index())) == ["check recovered"]


def test_a_check_that_did_not_compare_the_schema_leaves_the_findings_standing() -> None:
    """A schema not compared (behind, without a replay) is no verdict: no finding goes."""
    log = Log()
    log.check(report(index()))
    assert log.check(report(rev=revision(("a1",), "b2"), compared=False)) == [
        "revision a1: at head -> behind, 1 pending (script head b2)"
    ]


def test_many_findings_at_once_are_listed_up_to_a_bound_then_counted() -> None:
    """A whole schema appearing at once is LISTED_PER_CHECK entries and one count, so it
    cannot push the rest of the log out."""
    log = Log()
    log.check(report())
    many = [index(name=f"ix_{i:03}") for i in range(LISTED_PER_CHECK + 7)]
    lines = log.check(report(*many))
    assert len(lines) == LISTED_PER_CHECK + 1
    assert lines[-1] == "7 more differences appeared"


def test_the_log_keeps_the_newest_entries_within_its_bounds() -> None:
    """At most MAX_ENTRIES per target, the newest; and none older than MAX_AGE."""
    log = Log()
    log.check(report(at=T0))
    for i in range(MAX_ENTRIES):  # two entries each: one finding gone, another appeared
        at = T0 + timedelta(minutes=i + 1)
        log.check(report(index() if i % 2 == 0 else index(name="other"), at=at))
    assert len(log.history.entries) == MAX_ENTRIES
    assert log.history.entries[-1].at == T0 + timedelta(minutes=MAX_ENTRIES)
    assert log.history.entries[0].at == T0 + timedelta(minutes=MAX_ENTRIES // 2 + 1)

    much_later = T0 + MAX_AGE + timedelta(days=1)
    assert log.check(report(at=much_later)) == ["drift gone: extra_index other on main.tasks"]
    assert [e.at for e in log.history.entries] == [much_later]


def test_the_file_document_round_trips_and_foreign_documents_are_refused() -> None:
    """What is saved reads back equal (observation too, so a restart enters nothing new);
    anything else is a HistoryError, never a crash."""
    log = Log()
    log.check(report(index(actual="<script>alert(1)</script>")))
    log.check(report(error="down"))
    saved = {"t": log.history}
    document = json.loads(json.dumps(history_json(saved)))
    assert history_from_json(document) == saved
    header = {"format": "driftwatch-history", "version": 1}
    foreign: list[object] = [
        {},
        [],
        {**header, "version": 99},
        {**header, "targets": {"t": {}}},
        {**header, "targets": {"t": {"observed": None, "entries": [{"at": "noon"}]}}},
    ]
    for document in foreign:
        with pytest.raises(HistoryError):
            history_from_json(document)


def test_entry_event_names_are_the_public_vocabulary() -> None:
    """The JSON `event` values are fixed: tools filter on them."""
    assert [e.value for e in Event] == [
        "first_seen", "appeared", "changed", "gone", "revision", "check_failing", "recovered"
    ]  # fmt: skip
    assert Entry(at=T0, event=Event.RECOVERED).text == "check recovered"
