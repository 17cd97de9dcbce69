"""Notification conditions and their transitions, on hand-built target states (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import yaml

from driftwatch.config.settings import NotifierSettings
from driftwatch.findings import Attribution, Finding, FindingKind
from driftwatch.notify.conditions import (
    DEFAULT_WINDOWS,
    RULES,
    Condition,
    Move,
    Transition,
    changes,
    present_conditions,
    settled,
    target_changes,
    track_since,
    windows,
)
from driftwatch.notify.memory import Policy, due, transitions
from driftwatch.notify.target import TargetState
from driftwatch.report import CheckKind, SchemaResult, TargetReport
from driftwatch.revisions import PendingRevision, RevisionState, RevisionStateKind
from tests.support.tools import REPO_ROOT

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
AT_HEAD = RevisionState(
    kind=RevisionStateKind.AT_HEAD, database_heads=("c3",), script_heads=("c3",),
    pending=(), unknown=(),
)  # fmt: skip
BEHIND = RevisionState(
    kind=RevisionStateKind.BEHIND, database_heads=("a1",), script_heads=("c3",),
    pending=(PendingRevision(revision="b2", message="add x"),
             PendingRevision(revision="c3", message="add y")),
    unknown=(),
)  # fmt: skip
UNKNOWN = RevisionState(
    kind=RevisionStateKind.UNKNOWN_REVISION, database_heads=("zz",), script_heads=("c3",),
    pending=(), unknown=("zz",),
)  # fmt: skip
TWO_HEADS = RevisionState(
    kind=RevisionStateKind.MULTIPLE_SCRIPT_HEADS, database_heads=("c3",),
    script_heads=("c3", "d4"), pending=(PendingRevision(revision="d4", message="m"),),
    unknown=(),
)  # fmt: skip
ROGUE = Finding(
    kind=FindingKind.EXTRA_COLUMN, schema="public", table="agents", name="rogue",
    expected=None, actual="INTEGER", message="extra column",
)  # fmt: skip


def good(at: datetime, rev: RevisionState = AT_HEAD, *findings: Finding) -> TargetReport:
    return TargetReport(
        target="cp", url="postgresql://cp@db/cp", dialect="postgresql", started_at=at,
        duration_seconds=0.1, labels={"team": "db"}, check_kind=CheckKind.FULL, revision=rev,
        schema=SchemaResult(compared=True, findings=findings, compared_at=at),
    )  # fmt: skip


def failed(at: datetime) -> TargetReport:
    return TargetReport(
        target="cp", url="postgresql://cp@db/cp", dialect="postgresql", started_at=at,
        duration_seconds=0.1, labels={"team": "db"}, error="target 'cp': connection refused",
    )  # fmt: skip


class Watcher:
    """What the notification sink does for one notifier, step by step, with a fake clock."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.state = TargetState(name="cp", dialect="postgresql", labels={"team": "db"})
        self.since: dict[Condition, datetime] = {}
        self.announced: dict[Condition, datetime] = {}

    def check(self, report: TargetReport, now: datetime | None = None) -> list[Transition]:
        self.state = self.state.after(report)
        self.since = track_since(
            self.since, present_conditions(self.state), known=settled(self.state)
        )
        when = now or report.started_at
        firing = due(self.since, self.policy, when)
        found = transitions(self.state, self.announced, firing, when)
        self.announced = {c: self.announced.get(c, s) for c, s in firing.items()}
        return found


def said(found: list[Transition]) -> list[tuple[str, str]]:
    return [(t.condition.value, "firing" if t.firing else "resolved") for t in found]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_drift_fires_once_and_resolves_once() -> None:
    """Drift appearing is one firing message, unchanged ticks are none, its end is one resolve."""
    w = Watcher()
    assert said(w.check(good(at(0)))) == []
    first = w.check(good(at(60), AT_HEAD, ROGUE))
    assert said(first) == [("drift", "firing")]
    assert first[0].since == at(60)
    assert first[0].report is not None
    assert first[0].report.schema is not None
    assert first[0].report.schema.findings == (ROGUE,)
    for tick in range(2, 10):
        assert w.check(good(at(60 * tick), AT_HEAD, ROGUE)) == []
    gone = w.check(good(at(600), AT_HEAD))
    assert said(gone) == [("drift", "resolved")]
    assert (gone[0].since, gone[0].at) == (at(60), at(600))
    assert w.check(good(at(660))) == []


def test_drift_is_judged_only_at_head() -> None:
    """A database behind its scripts is pending, not drifted (as the DriftwatchSchemaDrift rule)."""
    w = Watcher(Policy(thresholds={}))
    assert said(w.check(good(at(0), BEHIND, ROGUE))) == [("pending", "firing")]
    assert said(w.check(good(at(60), AT_HEAD, ROGUE))) == [
        ("pending", "resolved"), ("drift", "firing"),
    ]  # fmt: skip


def test_pending_fires_only_after_the_threshold_and_from_first_sight() -> None:
    """Pending fires once it has lasted the threshold, measured from the first report behind."""
    w = Watcher(Policy(thresholds={Condition.PENDING: 1800}))
    assert w.check(good(at(0))) == []
    assert w.check(good(at(60), BEHIND)) == []
    assert w.check(good(at(1200), BEHIND)) == []
    # time passing is enough: this tick brings no new event
    fired = w.check(good(at(1860), BEHIND))
    assert said(fired) == [("pending", "firing")]
    assert fired[0].since == at(60)
    assert w.check(good(at(1920), BEHIND)) == []
    assert said(w.check(good(at(1980)))) == [("pending", "resolved")]


def test_pending_shorter_than_the_threshold_says_nothing() -> None:
    """A deploy that migrates within the threshold produces no message at all."""
    w = Watcher(Policy(thresholds={Condition.PENDING: 1800}))
    assert w.check(good(at(0), BEHIND)) == []
    assert w.check(good(at(600), BEHIND)) == []
    assert w.check(good(at(900))) == []
    assert w.check(good(at(2000))) == []
    # and a new stretch behind starts the clock again
    assert w.check(good(at(2100), BEHIND)) == []
    assert w.check(good(at(3800), BEHIND)) == []
    assert said(w.check(good(at(3900), BEHIND))) == [("pending", "firing")]


MIGRATING = replace(BEHIND, kind=RevisionStateKind.MIGRATING)


def test_a_migrating_check_neither_raises_nor_clears_a_condition() -> None:
    """A check that saw a migration running starts no drift (whatever its schema says) and
    ends none, pending included: the check after it decides."""
    w = Watcher(Policy(thresholds={}))
    assert said(w.check(good(at(0)))) == []
    replayed = good(at(60), MIGRATING, ROGUE)
    assert replayed.schema is not None
    # drift known at any revision (replayed), but not from a check that saw a migration
    assert w.check(replace(replayed, schema=replace(replayed.schema, method="replay"))) == []
    assert said(w.check(good(at(120), AT_HEAD, ROGUE))) == [("drift", "firing")]
    assert w.check(good(at(180), MIGRATING)) == []
    assert said(w.check(good(at(240), AT_HEAD))) == [("drift", "resolved")]
    assert said(w.check(good(at(300), BEHIND))) == [("pending", "firing")]
    assert w.check(good(at(360), MIGRATING)) == []
    assert said(w.check(good(at(420), AT_HEAD))) == [("pending", "resolved")]


def test_unknown_revision_and_script_heads() -> None:
    """An unknown revision and unmerged script heads fire and resolve like the other conditions."""
    w = Watcher(Policy(thresholds={}))
    assert said(w.check(good(at(0), UNKNOWN))) == [("unknown_revision", "firing")]
    assert said(w.check(good(at(60), TWO_HEADS))) == [
        ("unknown_revision", "resolved"), ("pending", "firing"),
        ("multiple_script_heads", "firing"),
    ]  # fmt: skip
    assert said(w.check(good(at(120)))) == [
        ("pending", "resolved"), ("multiple_script_heads", "resolved"),
    ]  # fmt: skip


def test_a_rolling_deploy_stamping_a_new_revision_announces_nothing() -> None:
    """With the default windows, old pods seeing an unknown revision for a few ticks before
    their scripts catch up send nothing; a revision unknown past its 30 minutes fires once."""
    w = Watcher(Policy(thresholds=windows({})))
    assert w.check(good(at(0))) == []
    for tick in range(1, 5):
        assert w.check(good(at(60 * tick), UNKNOWN)) == []
    assert w.check(good(at(300))) == []
    for tick in range(6, 36):
        assert w.check(good(at(60 * tick), UNKNOWN)) == []
    fired = w.check(good(at(60 * 36), UNKNOWN))
    assert said(fired) == [("unknown_revision", "firing")]
    assert fired[0].since == at(360)
    assert said(w.check(good(at(60 * 37)))) == [("unknown_revision", "resolved")]


def test_default_windows_are_the_documented_ones() -> None:
    """drift 5 min, pending 30 min, unknown revision 30 min, unmigrated 1 h, check failing
    15 min, unmerged script heads 15 min; a setting overrides one and keeps the others."""
    assert DEFAULT_WINDOWS == {
        Condition.DRIFT: 300, Condition.PENDING: 1800, Condition.UNKNOWN_REVISION: 1800,
        Condition.UNMIGRATED: 3600, Condition.CHECK_FAILING: 900,
        Condition.MULTIPLE_SCRIPT_HEADS: 900,
    }  # fmt: skip
    assert windows({Condition.DRIFT: 0}) == {**DEFAULT_WINDOWS, Condition.DRIFT: 0}


def test_unmigrated_findings_are_a_condition_at_any_revision() -> None:
    """Models no migration produces are `unmigrated`, behind or at head, and never drift."""
    unmigrated = replace(ROGUE, attribution=Attribution.UNMIGRATED)
    w = Watcher()
    assert said(w.check(good(at(0), AT_HEAD, unmigrated))) == [("unmigrated", "firing")]
    assert said(w.check(good(at(60), BEHIND, unmigrated))) == [("pending", "firing")]
    assert said(w.check(good(at(120), AT_HEAD))) == [
        ("pending", "resolved"), ("unmigrated", "resolved"),
    ]  # fmt: skip


def test_a_failing_check_keeps_what_is_known_and_fires_on_its_own() -> None:
    """Failure fires check_failing without resolving the drift it can no longer see."""
    w = Watcher()
    w.check(good(at(0), AT_HEAD, ROGUE))
    failing = w.check(failed(at(60)))
    assert said(failing) == [("check_failing", "firing")]
    assert failing[0].report is not None
    assert failing[0].report.error == "target 'cp': connection refused"
    assert w.check(failed(at(120))) == []
    assert said(w.check(good(at(180), AT_HEAD, ROGUE))) == [("check_failing", "resolved")]
    assert said(w.check(good(at(240)))) == [("drift", "resolved")]


def test_check_failing_threshold_ignores_a_short_outage() -> None:
    """With a threshold, a failure shorter than it sends nothing; a longer one fires once."""
    w = Watcher(Policy(thresholds={Condition.CHECK_FAILING: 300}))
    w.check(good(at(0)))
    assert w.check(failed(at(60))) == []
    assert w.check(good(at(120))) == []
    assert w.check(failed(at(180))) == []
    assert said(w.check(failed(at(480)))) == [("check_failing", "firing")]


def test_restart_announces_a_present_condition_once() -> None:
    """A new process seeing standing drift fires once (as Prometheus would), then stays quiet."""
    w = Watcher()
    assert said(w.check(good(at(0), AT_HEAD, ROGUE))) == [("drift", "firing")]
    assert w.check(good(at(60), AT_HEAD, ROGUE)) == []
    restarted = Watcher()
    assert said(restarted.check(good(at(120), AT_HEAD, ROGUE))) == [("drift", "firing")]
    assert restarted.check(good(at(180), AT_HEAD, ROGUE)) == []
    # pending waits its whole threshold again after a restart: the process cannot know more
    pending = Watcher(Policy(thresholds={Condition.PENDING: 600}))
    assert pending.check(good(at(0), BEHIND)) == []
    assert said(pending.check(good(at(600), BEHIND))) == [("pending", "firing")]


def test_filters_by_condition_and_target() -> None:
    """A notifier hears only the conditions it asked for, and only about its targets."""
    w = Watcher(Policy(conditions=frozenset({Condition.CHECK_FAILING})))
    assert w.check(good(at(0), UNKNOWN, ROGUE)) == []
    assert said(w.check(failed(at(60)))) == [("check_failing", "firing")]
    assert Policy(targets=frozenset({"cp"})).wants("cp")
    assert not Policy(targets=frozenset({"cp"})).wants("other")
    assert Policy().wants("anything")


def test_rules_match_the_prometheus_alerts() -> None:
    """Each condition is named, graded and linked like its alert in driftwatch.rules.yml."""
    rules_file = REPO_ROOT / "deploy" / "prometheus" / "driftwatch.rules.yml"
    shipped = {
        rule["alert"]: rule
        for group in yaml.safe_load(rules_file.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }
    for condition, rule in RULES.items():
        alert = shipped[rule.alertname]
        assert rule.severity == alert["labels"]["severity"], condition
        assert rule.summary == alert["annotations"]["summary"], condition
        assert rule.runbook_url == alert["annotations"]["runbook_url"], condition
    runbook = (REPO_ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    for rule in RULES.values():
        assert f"## {rule.alertname}\n" in runbook


def test_settings_events_are_the_conditions() -> None:
    """The `events` values the config accepts are exactly the condition names."""
    schema = NotifierSettings.model_json_schema()
    allowed: Mapping[str, object] = dict.fromkeys(schema["$defs"]["Condition"]["enum"])
    assert set(allowed) == {c.value for c in Condition}
    settings = NotifierSettings(type="webhook", url="https://x.example/", events=["drift"])
    assert settings.events == [Condition.DRIFT]


def test_changes_say_what_started_changed_and_ended() -> None:
    """The one transition computation: a key only after started, only before ended, and a
    key in both with other evidence changed."""
    before = {Condition.DRIFT: "a", Condition.PENDING: 1, Condition.CHECK_FAILING: True}
    after = {Condition.DRIFT: "b", Condition.PENDING: 1, Condition.UNKNOWN_REVISION: ("zz",)}
    assert changes(before, after) == {
        Condition.CHECK_FAILING: Move.ENDED,
        Condition.DRIFT: Move.CHANGED,
        Condition.UNKNOWN_REVISION: Move.STARTED,
    }


def test_log_lines_name_revision_states_and_condition_moves() -> None:
    """A log line is named after the revision state it moved to, or after a condition and
    how it moved; drift ends only with a check that compared the schema."""
    fresh = TargetState(name="cp", dialect="postgresql")
    # behind, and no replay to tell: the difference may be a pending migration's, so the
    # log judges it as the notifications do (no drift), and says the revision moved
    unattributed = fresh.after(good(at(0), BEHIND, ROGUE))
    assert [c.word for c in target_changes(fresh, unattributed)] == ["behind"]
    replayed = replace(good(at(0), BEHIND, ROGUE), schema=replace(
        good(at(0), BEHIND, ROGUE).schema, method="replay"))  # fmt: skip
    behind = fresh.after(replayed)
    assert [c.word for c in target_changes(fresh, behind)] == ["behind", "drift_appeared"]
    uncompared = replace(good(at(1)), schema=SchemaResult(compared=False, skipped_reason="x"))
    skipped = behind.after(uncompared)
    assert [c.word for c in target_changes(behind, skipped)] == ["in_sync"]
    assert [c.word for c in target_changes(skipped, skipped.after(failed(at(2))))] == [
        "check_failing"
    ]
